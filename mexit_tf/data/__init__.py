from mexit_tf.data.array_batches import ArrayBatches
from mexit_tf.data.augmentation import build_augmentation
from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.data.fashion_mnist import load_fashion_mnist
from mexit_tf.data.image_folder import load_image_folder

__all__ = ["ArrayBatches", "DatasetSplits", "build_augmentation", "load_fashion_mnist",
           "load_image_folder"]
