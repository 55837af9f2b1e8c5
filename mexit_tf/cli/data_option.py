"""The `--data` option of export, calibrate and eval: defaults to the recorded data source,
loads one split shaped as the model takes it, and matches classes by name."""

import sys
from pathlib import Path

from mexit_tf.errors import MexitError

DATA_HELP = ("'fashion_mnist', 'fashion_mnist_c' (Fashion-MNIST with graded corruptions), "
             "'folder:PATH' (one sub-folder per class, or train/ "
             "validation/ test/ folders of them) or, for audio models, 'audio:PATH' "
             "(PATH/{validation,test}/<class>/*.wav). Default: the data the model was "
             "trained on, as recorded in the model or bundle (fashion_mnist if none is). "
             "export and calibrate use its validation split, eval its test split")


def data_spec(record: dict | None) -> str | None:
    """The `--data` value that reloads a recorded data source."""
    if not record:
        return None
    if record.get("kind") == "folder":
        return f"folder:{record['path']}"
    return record.get("kind")


def resolve_data(spec: str | None, record: dict | None, command: str) -> str:
    """`--data` if given, else the recorded source; says which on stderr."""
    if spec:
        return spec
    recorded = data_spec(record)
    if recorded:
        print(f"mexit {command}: data {recorded} (recorded with the model; --data overrides)",
              file=sys.stderr)
        return recorded
    print(f"mexit {command}: no data source recorded with the model; using fashion_mnist "
          "(--data overrides)", file=sys.stderr)
    return "fashion_mnist"


def load_splits(spec: str, image_shape, record: dict | None = None, command: str = "mexit"):
    """All splits of `spec` (a `DatasetSplits`) at the model's `image_shape`.

    A folder is read at the model's size and channels (each change said on stderr);
    when it is the recorded folder, the recorded seed reproduces the training split.
    """
    from mexit_tf.data.dataset_loader import load_dataset

    recorded = record if record and data_spec(record) == spec else {}
    config = {"dataset": spec, "image_size": tuple(image_shape[:2]),
              "seed": recorded.get("seed", 0),
              # fashion_mnist_c: the recorded corruptions, so eval sees the trained-on ones.
              "corruption_seed": recorded.get("corruption_seed"),
              "color_mode": "grayscale" if image_shape[-1] == 1 else "rgb"}
    data = load_dataset(config)
    for note in data.notes:
        print(f"mexit {command}: {note}", file=sys.stderr)
    if tuple(data.image_shape) != tuple(image_shape):
        raise MexitError(f"Data {spec!r} has images of shape {data.image_shape}; the model "
                         f"takes {tuple(image_shape)}.")
    return data


def load_split(spec: str, split: str, input_spec: dict, labels=None, allow_subset=False,
               record: dict | None = None, command: str = "mexit"):
    """Returns `(x, y, class_names, source)` of one split, shaped as `input_spec` says,
    with `y` in the model's label order when `labels` (its class names) are known.

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
            "mexit_tf.runtime.cascade.Cascade(out).evaluate(...).")
    is_audio = input_spec.get("kind") == "audio"
    if is_audio != str(spec or "").startswith("audio:"):
        raise MexitError(
            f"The model takes {'audio' if is_audio else 'images'} of shape {shape}; received "
            f"--data {spec!r}. " + ("Pass --data audio:PATH." if is_audio else
                                    "Pass fashion_mnist, fashion_mnist_c or folder:PATH."))
    if is_audio:
        from mexit_tf.data.audio_folder import load_audio_folder

        root = Path(spec[len("audio:"):]) / split
        x, y, names, resampled = load_audio_folder(root, int(input_spec["sample_rate"]),
                                                   shape[0])
        note = f", {resampled} clips resampled" if resampled else ""
        source = f"audio folder {root}{note}"
    else:
        data = load_splits(spec, shape, record, command)
        x, y = {"validation": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}[split]
        names, source = data.class_names, data.source
    if labels:
        from mexit_tf.data.class_names import match_class_names

        remap = match_class_names(names, labels, allow_subset)
        y = remap[y]
        if len(names) < len(labels):
            print(f"mexit {command}: the data holds {len(names)} of the {len(labels)} classes "
                  f"({', '.join(names)}); they are matched by name", file=sys.stderr)
    return x, y, names, f"{source}, {split} split"
