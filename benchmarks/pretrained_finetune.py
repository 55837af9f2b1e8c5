"""Fine-tuning from a pretrained ViT vs the same recipe from random init (issue 24).

1. Pretrain a small keras-hub ViT (patch 4 at 28x28x1) on Fashion-MNIST classes 0-4 with
   keras-hub's own `ViTImageClassifier.fit`, and save it as a keras-hub preset folder
   (with its image converter); save the same architecture at random init beside it.
2. Write an image folder of the *other* five classes: `--per-class` training images per
   class, plus validation and test folders (test from Fashion-MNIST's test set).
3. For each start, run what a user types: `mexit train --from PRESET --data folder:…`
   (the finetune recipe), `mexit export` (calibrates the policy on the validation
   split) and `mexit eval --json` on the test split.

    python benchmarks/pretrained_finetune.py            # 6 blocks, width 64; ~20 min, 2 cores
    python benchmarks/pretrained_finetune.py --smoke    # tiny, for tests

Writes benchmarks/results/pretrained_finetune.json: per-exit test accuracy of both
starts, the calibrated policy's speed-up and accuracy loss, training times.
"""

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, save_result  # noqa: E402

PRETRAIN_CLASSES = (0, 1, 2, 3, 4)
FINETUNE_CLASSES = (5, 6, 7, 8, 9)
FULL = dict(hidden_dim=64, num_layers=6, num_heads=4, mlp_dim=128, pretrain_epochs=3,
            pretrain_limit=None, per_class=100, val_per_class=50, test_per_class=200)
SMOKE = dict(hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32, pretrain_epochs=1,
             pretrain_limit=256, per_class=8, val_per_class=4, test_per_class=4)


def _pretrain(data, sizes, folder: Path, seed: int) -> dict:
    """Pretrains on the first five classes; saves it and a random-init twin as presets."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)

    def classifier():
        backbone = keras_hub.models.ViTBackbone(
            image_shape=(28, 28, 1), patch_size=4, num_layers=sizes["num_layers"],
            num_heads=sizes["num_heads"], hidden_dim=sizes["hidden_dim"],
            mlp_dim=sizes["mlp_dim"])
        converter = keras_hub.layers.ImageConverter(image_size=(28, 28), scale=1 / 255.0)
        preprocessor = keras_hub.models.ImageClassifierPreprocessor(image_converter=converter)
        return keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=5,
                                                   preprocessor=preprocessor)

    classifier().save_to_preset(str(folder / "random"))
    model = classifier()
    rows = np.isin(data.y_train, PRETRAIN_CLASSES)
    x, y = data.x_train[rows], data.y_train[rows]
    if sizes["pretrain_limit"]:
        x, y = x[:sizes["pretrain_limit"]], y[:sizes["pretrain_limit"]]
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    started = time.perf_counter()
    # The preprocessor scales pixels inside fit; images go in as 0..255 floats.
    history = model.fit(x.astype("float32"), y, batch_size=128,
                        epochs=sizes["pretrain_epochs"], verbose=2)
    model.save_to_preset(str(folder / "pretrained"))
    return {"images": int(len(x)), "epochs": sizes["pretrain_epochs"],
            "seconds": round(time.perf_counter() - started, 1),
            "train_accuracy": round(float(history.history["accuracy"][-1]), 4)}


def _write_folder(data, sizes, root: Path) -> None:
    """train/, validation/ and test/ folders of the five fine-tuning classes."""
    from PIL import Image

    splits = {"train": (data.x_train, data.y_train, sizes["per_class"], 0),
              "validation": (data.x_train, data.y_train, sizes["val_per_class"],
                             sizes["per_class"]),
              "test": (data.x_test, data.y_test, sizes["test_per_class"], 0)}
    for split, (x, y, count, skip) in splits.items():
        for label in FINETUNE_CLASSES:
            folder = root / split / data.class_names[label].replace("/", "-")
            folder.mkdir(parents=True, exist_ok=True)
            for index, row in enumerate(np.flatnonzero(y == label)[skip:skip + count]):
                Image.fromarray(x[row][..., 0]).save(folder / f"{index}.png")


def _mexit(*argv) -> str:
    """Runs a `mexit` command in this process; returns its stdout (fails loudly)."""
    from mexit_tf.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(arg) for arg in argv])
    if code != 0:
        raise SystemExit(f"mexit {' '.join(map(str, argv))} failed with status {code}")
    return out.getvalue()


def _finetune(start: str, preset: Path, folder: Path, work: Path, smoke: bool) -> dict:
    run, bundle = work / f"run_{start}", work / f"bundle_{start}"
    # Fashion-MNIST items are centred and fill the frame: photo crops and flips only hurt.
    _mexit("train", "--from", preset, "--data", f"folder:{folder}", "--out", run,
           "--set", "augment.crop=0", "--set", "augment.flip=False",
           *(["--smoke"] if smoke else []))
    metrics = json.loads((run / "metrics.json").read_text())
    _mexit("export", run / "model.keras", "--out", bundle)
    report = json.loads(_mexit("eval", bundle, "--json"))
    final = report["exit_accuracy"]["final"]
    return {"test_accuracy": metrics["test"], "train_seconds": metrics["train_seconds"],
            "policy": {"accuracy": report["policy_accuracy"],
                       "loss_vs_final": round(final - report["policy_accuracy"], 5),
                       "speedup_vs_all_stages": report["speedup_vs_all_stages"],
                       "exit_histogram": report["exit_histogram"]}}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="result file (default benchmarks/results/…json)")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    from mexit_tf.data.fashion_mnist import load_fashion_mnist

    sizes = SMOKE if args.smoke else FULL
    data = load_fashion_mnist(seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pretraining = _pretrain(data, sizes, work, args.seed)
        _write_folder(data, sizes, work / "photos")
        starts = {start: _finetune(start, work / start, work / "photos", work, args.smoke)
                  for start in ("pretrained", "random")}
    result = {"sizes": sizes, "data": data.source, "pretraining": pretraining,
              "finetune_classes": [data.class_names[c] for c in FINETUNE_CLASSES],
              "starts": starts}
    command = "python benchmarks/pretrained_finetune.py" + (" --smoke" if args.smoke else "")
    if args.out:
        from mexit_tf.atomic_files import write_json_atomic

        write_json_atomic(Path(args.out), {"benchmark": "pretrained_finetune", **result})
    elif not args.smoke:
        save_result("pretrained_finetune", result, command, args.seed, args.note)
    for start, row in starts.items():
        print(start, json.dumps(row["test_accuracy"]), json.dumps(row["policy"]))
    return result


if __name__ == "__main__":
    main()
