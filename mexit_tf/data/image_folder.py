from pathlib import Path

import numpy as np

from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.data.split import split_off
from mexit_tf.errors import MexitError


def load_image_folder(directory: str | Path, image_size: tuple[int, int],
                      color_mode: str = "rgb", validation_fraction: float = 0.1,
                      test_fraction: float = 0.1, seed: int = 0) -> DatasetSplits:
    """Images in one sub-folder per class (`root/cat/1.png`, ...), split three ways.

    Decoding and resizing use `keras.utils.image_dataset_from_directory`; the
    images are then held in memory as uint8 arrays. Validation and test splits
    are drawn at random (seeded) and never overlap.
    """
    import keras

    root = Path(directory)
    if not root.is_dir():
        raise MexitError(f"Data folder {str(root)!r} does not exist or is not a folder.")
    try:
        dataset = keras.utils.image_dataset_from_directory(
            root, image_size=tuple(image_size), color_mode=color_mode, batch_size=None,
            shuffle=False, verbose=False)
    except (ValueError, OSError) as error:
        raise MexitError(f"Cannot read images from {str(root)!r}: {error}") from None
    class_names = list(dataset.class_names)
    pairs = list(dataset.as_numpy_iterator())
    if not pairs:
        raise MexitError(f"No images found in {str(root)!r} (expected one sub-folder per class).")
    x = np.stack([image for image, _ in pairs]).round().clip(0, 255).astype("uint8")
    y = np.array([label for _, label in pairs], dtype="int32")
    test_count = max(1, int(round(len(x) * test_fraction)))
    val_count = max(1, int(round(len(x) * validation_fraction)))
    x, y, x_test, y_test = split_off(x, y, test_count, seed)
    x, y, x_val, y_val = split_off(x, y, val_count, seed + 1)
    return DatasetSplits(x, y, x_val, y_val, x_test, y_test, class_names,
                         f"image folder {root}")
