"""Fine-tuning from a pretrained ViT vs the same recipe from random init (issue 24).

1. Pretrain a small keras-hub ViT (patch 4 at 28x28x1) on Fashion-MNIST classes 0-4 with
   keras-hub's own `ViTImageClassifier.fit`, and save it as a keras-hub preset folder
   (with its image converter); save the same architecture at random init beside it.
2. Write an image folder of the *other* five classes: `--per-class` training images per
   class, plus validation and test folders (test from Fashion-MNIST's test set).
3. Check that the preset's weights arrive: the imported model's last block equals the
   keras-hub backbone's on test images.
4. Linear probe of each start's frozen features: a ridge classifier on the class token
   after every block (train images -> test accuracy), no fine-tuning.
5. For each fine-tuning seed and each start, run what a user types: `mexit train --from
   PRESET --data folder:… --set seed=S` (the finetune recipe), `mexit export`
   (calibrates the policy on the validation split) and `mexit eval --json` on the test
   split; plus the trained model's accuracy on its own training images.

    python benchmarks/pretrained_finetune.py --seeds 0 1 2   # 6 blocks, w64; ~30 min, 2 cores
    python benchmarks/pretrained_finetune.py --smoke         # tiny, for tests

Writes benchmarks/results/pretrained_finetune.json: per seed and start, per-exit test and
train accuracy, the calibrated policy's speed-up and accuracy loss, training time; their
means; the probes and the import check. One pretraining serves every seed.
"""

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, save_result  # noqa: E402

PRETRAIN_CLASSES = (0, 1, 2, 3, 4)
FINETUNE_CLASSES = (5, 6, 7, 8, 9)
STARTS = ("pretrained", "random")
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


def _write_folder(data, sizes, root: Path) -> dict:
    """train/, validation/ and test/ folders of the five fine-tuning classes; returns
    each split's `(images, class names)` as written."""
    from PIL import Image

    splits = {"train": (data.x_train, data.y_train, sizes["per_class"], 0),
              "validation": (data.x_train, data.y_train, sizes["val_per_class"],
                             sizes["per_class"]),
              "test": (data.x_test, data.y_test, sizes["test_per_class"], 0)}
    written = {}
    for split, (x, y, count, skip) in splits.items():
        images, names = [], []
        for label in FINETUNE_CLASSES:
            name = data.class_names[label].replace("/", "-")
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index, row in enumerate(np.flatnonzero(y == label)[skip:skip + count]):
                Image.fromarray(x[row][..., 0]).save(folder / f"{index}.png")
                images.append(x[row])
                names.append(name)
        written[split] = (np.stack(images), names)
    return written


def _imported(preset: Path):
    """`(keras-hub backbone, its converter, our model on its weights)`, as `--from` builds it."""
    from mexit_tf.models.keras_hub_import import from_keras_hub
    from mexit_tf.models.keras_hub_source import load_keras_hub_backbone

    hub, converter = load_keras_hub_backbone(str(preset))
    return hub, converter, from_keras_hub(hub, exits={1: "mlp_ee"}, num_outputs=5,
                                          image_converter=converter)


def _import_gap(preset: Path, images: np.ndarray) -> float:
    """Largest difference between the keras-hub backbone's output tokens and ours on
    `images`: ~1e-6 when the preset's weights (and pixel scaling) arrived."""
    hub, converter, model = _imported(preset)
    x = images.astype("float32")
    theirs = np.asarray(hub.predict(np.asarray(converter(x)), verbose=0))
    ours = np.asarray(model.backbone.predict(x, verbose=0))
    return float(np.max(np.abs(theirs - ours)))


def ridge_probe(train, y_train, test, y_test, penalty: float = 1.0) -> float:
    """Test accuracy of a ridge classifier (one-hot targets, standardised features, a
    bias): a linear probe with a closed form, so it needs no seed and no tuning."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    design = np.hstack([(train - mean) / std, np.ones((len(train), 1))])
    targets = np.eye(int(y_train.max()) + 1)[y_train]
    weights = np.linalg.solve(design.T @ design + penalty * np.eye(design.shape[1]),
                              design.T @ targets)
    scores = np.hstack([(test - mean) / std, np.ones((len(test), 1))]) @ weights
    return float(np.mean(scores.argmax(1) == y_test))


def _probes(preset: Path, folders: dict) -> dict:
    """`{block_K: probe accuracy}` on the class token after every block of `preset`."""
    import keras

    _, _, model = _imported(preset)
    blocks = sorted(model.backbone.block_outputs)
    features = keras.Model(model.input, [model.backbone.block_outputs[k][:, 0] for k in blocks])
    (x_train, train_names), (x_test, test_names) = folders["train"], folders["test"]
    classes = sorted(set(train_names))
    y_train = np.array([classes.index(n) for n in train_names])
    y_test = np.array([classes.index(n) for n in test_names])
    train = features.predict(x_train.astype("float32"), verbose=0)
    test = features.predict(x_test.astype("float32"), verbose=0)
    return {f"block_{k}": round(ridge_probe(a, y_train, b, y_test), 4)
            for k, a, b in zip(blocks, train, test, strict=True)}


def _mexit(*argv) -> str:
    """Runs a `mexit` command in this process; returns its stdout (fails loudly)."""
    from mexit_tf.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(arg) for arg in argv])
    if code != 0:
        raise SystemExit(f"mexit {' '.join(map(str, argv))} failed with status {code}")
    return out.getvalue()


def _train_accuracy(run: Path, folders: dict) -> dict:
    """Per-exit accuracy of the trained model on its own training images (underfit?)."""
    import keras

    from mexit_tf.training.evaluation import exit_scores, predict_exits

    model = keras.saving.load_model(run / "model.keras")
    classes = json.loads((run / "metrics.json").read_text())["class_names"]
    x, names = folders["train"]
    scores = exit_scores(predict_exits(model, x), np.array([classes.index(n) for n in names]))
    return {name: round(value, 4) for name, value in scores.items()}


def _finetune(start: str, seed: int, preset: Path, folder: Path, work: Path, folders: dict,
              smoke: bool) -> dict:
    run, bundle = work / f"run_{start}_{seed}", work / f"bundle_{start}_{seed}"
    # Fashion-MNIST items are centred and fill the frame: photo crops and flips only hurt.
    _mexit("train", "--from", preset, "--data", f"folder:{folder}", "--out", run,
           "--set", "augment.crop=0", "--set", "augment.flip=False", "--set", f"seed={seed}",
           *(["--smoke"] if smoke else []))
    metrics = json.loads((run / "metrics.json").read_text())
    _mexit("export", run / "model.keras", "--out", bundle)
    report = json.loads(_mexit("eval", bundle, "--json"))
    final = report["exit_accuracy"]["final"]
    return {"test_accuracy": metrics["test"], "train_accuracy": _train_accuracy(run, folders),
            "train_seconds": metrics["train_seconds"],
            "policy": {"accuracy": report["policy_accuracy"],
                       "loss_vs_final": round(final - report["policy_accuracy"], 5),
                       "speedup_vs_all_stages": report["speedup_vs_all_stages"],
                       "exit_histogram": report["exit_histogram"]}}


def summarize(runs: dict) -> dict:
    """Mean, min and max over seeds of every per-exit accuracy, the policy's speed-up and
    loss, and the training time; `runs` is `{seed: _finetune(...)}`."""
    rows = list(runs.values())

    def spread(values):
        return {"mean": round(statistics.fmean(values), 4), "min": min(values),
                "max": max(values)}

    return {
        **{key: {name: spread([row[key][name] for row in rows]) for name in rows[0][key]}
           for key in ("test_accuracy", "train_accuracy")},
        "policy_speedup": spread([row["policy"]["speedup_vs_all_stages"] for row in rows]),
        "policy_loss": spread([row["policy"]["loss_vs_final"] for row in rows]),
        "train_seconds": spread([row["train_seconds"] for row in rows])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="pretraining and data seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="fine-tuning seeds (each start is fine-tuned once per seed)")
    parser.add_argument("--out", help="result file (default benchmarks/results/…json)")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    from mexit_tf.data.fashion_mnist import load_fashion_mnist

    sizes = SMOKE if args.smoke else FULL
    started = time.perf_counter()
    data = load_fashion_mnist(seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pretraining = _pretrain(data, sizes, work, args.seed)
        folders = _write_folder(data, sizes, work / "photos")
        checks = {start: _import_gap(work / start, folders["test"][0][:64]) for start in STARTS}
        probes = {start: _probes(work / start, folders) for start in STARTS}
        starts = {start: {"runs": {str(seed): _finetune(start, seed, work / start,
                                                        work / "photos", work, folders,
                                                        args.smoke)
                                   for seed in args.seeds}} for start in STARTS}
    for row in starts.values():
        row["summary"] = summarize(row["runs"])
    result = {"sizes": sizes, "data": data.source, "pretraining": pretraining,
              "finetune_classes": [data.class_names[c] for c in FINETUNE_CLASSES],
              "seeds": args.seeds, "import_max_abs_diff": checks, "linear_probe": probes,
              "starts": starts, "wall_seconds": round(time.perf_counter() - started)}
    command = "python benchmarks/pretrained_finetune.py" + (
        " --smoke" if args.smoke else f" --seeds {' '.join(map(str, args.seeds))}")
    if args.out:
        from mexit_tf.atomic_files import write_json_atomic

        write_json_atomic(Path(args.out), {"benchmark": "pretrained_finetune", **result})
    elif not args.smoke:
        save_result("pretrained_finetune", result, command, args.seed, args.note)
    print("linear probe", json.dumps(probes))
    for start, row in starts.items():
        print(start, json.dumps(row["summary"]))
    return result


if __name__ == "__main__":
    main()
