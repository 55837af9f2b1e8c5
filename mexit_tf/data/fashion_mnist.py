import gzip
import os
from pathlib import Path

import numpy as np

from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.data.split import split_off
from mexit_tf.errors import MexitError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / (
    "fashion-mnist")
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
_FILES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
          "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def read_idx(path: Path) -> np.ndarray:
    """Reads a (gzipped) IDX file, the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise MexitError(f"{path} is not an unsigned-byte IDX file.")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(shape)):
        raise MexitError(f"{path} is truncated: expected {shape}, found {array.size} values.")
    return array.reshape(shape)


def _from_directory(directory: Path):
    arrays = {key: read_idx(directory / name) for key, name in _FILES.items()}
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def load_fashion_mnist(validation_size: int = 5000, seed: int = 0) -> DatasetSplits:
    """Fashion-MNIST (real, 70k images of 28x28x1) with a validation split.

    Looks, in order, for the Debian package `dataset-fashion-mnist`
    (`/usr/share/datasets/fashion-mnist`), the Keras cache, then downloads with
    `keras.datasets.fashion_mnist`. `source` on the result says which was used.
    The validation split is carved from the 60k training images (seeded); the
    10k test images are kept apart.

    Example:
    >>> data = load_fashion_mnist()
    >>> data.x_train.shape, data.source
    ((55000, 28, 28, 1), 'Debian package dataset-fashion-mnist (/usr/share/datasets/...)')
    """
    tried = []
    for directory, label in ((DEBIAN_DIR, "Debian package dataset-fashion-mnist"),
                             (KERAS_CACHE_DIR, "Keras cache")):
        if all((directory / name).exists() for name in _FILES.values()):
            x_train, y_train, x_test, y_test = _from_directory(directory)
            source = f"{label} ({directory})"
            break
        tried.append(str(directory))
    else:
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
            source = "download via keras.datasets.fashion_mnist"
        except Exception as error:  # noqa: BLE001 - any network failure reads the same here
            raise MexitError(
                f"Fashion-MNIST not found in {' or '.join(tried)} and Keras's download failed "
                f"({type(error).__name__}). Either install the Debian/Ubuntu package "
                "('apt-get install dataset-fashion-mnist'; `bash scripts/setup train` does "
                "it as root) or connect to the internet so Keras can download it.") from None
    x_train, y_train, x_val, y_val = split_off(x_train[..., None], y_train.astype("int32"),
                                               validation_size, seed)
    record = {"kind": "fashion_mnist", "image_size": [28, 28], "color_mode": "grayscale",
              "class_names": list(CLASS_NAMES),
              "split": f"validation: {validation_size} of the 60k training images "
                       f"(seed {seed}); test: the 10k test images", "seed": seed,
              "validation_size": validation_size}
    return DatasetSplits(x_train, y_train, x_val, y_val, x_test[..., None],
                         y_test.astype("int32"), list(CLASS_NAMES), source, record)
