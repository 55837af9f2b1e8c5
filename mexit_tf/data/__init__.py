"""Datasets: Fashion-MNIST (clean or corrupted), image and audio folders, synthetic sets.

Names load on first use, so reading a folder or Fashion-MNIST (NumPy and Pillow)
does not import Keras; `ArrayBatches` and `build_augmentation` do.
"""

import importlib

_LAZY = {"ArrayBatches": "mexit_tf.data.array_batches",
         "build_augmentation": "mexit_tf.data.augmentation",
         "DatasetSplits": "mexit_tf.data.dataset_splits",
         "load_fashion_mnist": "mexit_tf.data.fashion_mnist",
         "load_fashion_mnist_c": "mexit_tf.data.fashion_mnist_c",
         "load_image_folder": "mexit_tf.data.image_folder",
         "load_dataset": "mexit_tf.data.dataset_loader"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'mexit_tf.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
