"""A training config's `dataset` -> `DatasetSplits` (NumPy and Pillow only)."""

from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.data.fashion_mnist import load_fashion_mnist
from mexit_tf.data.fashion_mnist_c import load_fashion_mnist_c
from mexit_tf.data.image_folder import load_image_folder
from mexit_tf.errors import MexitError


def load_dataset(config: dict, progress=None) -> DatasetSplits:
    """`dataset`: "fashion_mnist", "fashion_mnist_c" (corrupted from `corruption_seed`,
    default `seed`), or "folder:PATH" with `image_size` and `color_mode` (None: the
    images' own, when they all share it). `progress(done, total)` follows the
    decoding of a folder."""
    name = str(config["dataset"])
    if name == "fashion_mnist":
        data = load_fashion_mnist(config.get("validation_size", 5000), config.get("seed", 0))
    elif name == "fashion_mnist_c":
        data = load_fashion_mnist_c(config.get("validation_size", 5000), config.get("seed", 0),
                                    config.get("corruption_seed"))
    elif name.startswith("folder:"):
        size = config.get("image_size")
        data = load_image_folder(name[len("folder:"):], None if size is None else tuple(size),
                                 config.get("color_mode"), seed=config.get("seed", 0),
                                 progress=progress)
    else:
        raise MexitError(f"Unknown dataset {name!r}; use 'fashion_mnist', "
                         "'fashion_mnist_c' or 'folder:PATH'.")
    if config.get("train_limit"):
        limit = config.get("eval_limit")
        data = data.subset(config["train_limit"], limit, limit)
    return data
