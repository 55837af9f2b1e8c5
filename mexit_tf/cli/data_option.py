"""The `--data` option shared by export, calibrate and eval."""

from pathlib import Path

from mexit_tf.errors import MexitError

DATA_HELP = ("'fashion_mnist' (default), 'folder:PATH' (one sub-folder per class) or, for "
             "audio models, 'audio:PATH' (PATH/{validation,test}/<class>/*.wav); export and "
             "calibrate use its validation split, eval its test split")


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


def load_split(spec: str, split: str, input_spec: dict):
    """Returns `(x, y, class_names, source)` of one split, shaped as `input_spec` says.

    `input_spec` is a bundle manifest's `input` (or `bundle_export.input_spec`):
    its `shape` (batch first) and, for audio, its `kind` and `sample_rate`.
    """
    shape = tuple(input_spec["shape"][1:])
    if input_spec.get("kind") == "audiovisual":
        raise MexitError(
            f"This model takes image/audio pairs; the CLI reads one kind of input (received "
            f"--data {spec!r}). Export, calibrate and evaluate audio-visual models from Python: "
            "mexit_tf.converters.bundle_export.export_bundle(model, out, "
            "({'image': x, 'waveform': w}, y)) and "
            "mexit_tf.converters.cascade.Cascade(out).evaluate(...).")
    is_audio = input_spec.get("kind") == "audio"
    if is_audio != str(spec or "").startswith("audio:"):
        raise MexitError(
            f"The model takes {'audio' if is_audio else 'images'} of shape {shape}; received "
            f"--data {spec!r}. " + ("Pass --data audio:PATH." if is_audio else
                                    "Pass fashion_mnist or folder:PATH."))
    if is_audio:
        from mexit_tf.data.audio_folder import load_audio_folder

        root = Path(spec[len("audio:"):]) / split
        x, y, names, resampled = load_audio_folder(root, int(input_spec["sample_rate"]),
                                                   shape[0])
        note = f", {resampled} clips resampled" if resampled else ""
        return x, y, names, f"audio folder {root}{note}"
    data = load_splits(spec, shape)
    x, y = {"validation": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}[split]
    return x, y, data.class_names, data.source

