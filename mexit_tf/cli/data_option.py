"""The `--data` option shared by export, calibrate and eval."""

from mexit_tf.errors import MexitError

DATA_HELP = ("'fashion_mnist' (default) or 'folder:PATH' (one sub-folder per class); "
             "export and calibrate use its validation split, eval its test split")


def load_splits(spec: str, image_shape):
    """All splits of `spec` (a `DatasetSplits`), checked against the model's `image_shape`."""
    from mexit_tf.training.trainer import load_dataset

    config = {"dataset": spec or "fashion_mnist", "image_size": tuple(image_shape[:2]),
              "color_mode": "grayscale" if image_shape[-1] == 1 else "rgb"}
    data = load_dataset(config)
    if tuple(data.image_shape) != tuple(image_shape):
        raise MexitError(f"Data {spec!r} has images of shape {data.image_shape}; the model "
                         f"takes {tuple(image_shape)}.")
    return data


def load_split(spec: str, split: str, image_shape):
    """Returns `(x, y, class_names, source)` of one split, sized for `image_shape`."""
    data = load_splits(spec, image_shape)
    x, y = {"validation": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}[split]
    return x, y, data.class_names, data.source
