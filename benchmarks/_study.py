"""Shared by the studies: one data split, one training recipe, models trained once.

Every model a study compares (multi-exit models, truncated backbones, the
backbone that classifier-wise and copycat heads sit on) is trained with the
same recipe from the same seed, so differences come from the design, not the
budget. Trained models are cached under `--work` by name with their recipe,
and a later study reuses them when the recipe matches (the policy study and the
exit-head study share the backbone trained alone).
"""

import json
import time
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np

import mexit_tf
from mexit_tf.atomic_files import save_model_atomic, write_json_atomic
from mexit_tf.configs.fashion_mnist_cpu import fashion_mnist_cpu
from mexit_tf.data.array_batches import ArrayBatches
from mexit_tf.data.augmentation import build_augmentation
from mexit_tf.training.smoothed_sparse_crossentropy import SmoothedSparseCrossentropy
from mexit_tf.training.trainer import build_optimizer

SEED = 0


def study_recipe(train_images: int, epochs: int, smoke: bool) -> dict:
    """The CPU preset's optimizer, schedule and loss, at the study's budget."""
    recipe = {key: fashion_mnist_cpu()[key] for key in (
        "batch_size", "learning_rate", "weight_decay", "label_smoothing", "warmup_epochs",
        "augment")}
    recipe.update(train_images=train_images, epochs=epochs, seed=SEED, jit_compile=not smoke,
                  backbone="tiny 4 blocks w16 on 8x8 noise (smoke)" if smoke else "XS/4",
                  # Tracing a ViT's train step takes ~15 s even at toy size; a smoke
                  # run of a few steps is quicker eager.
                  run_eagerly=smoke)
    if smoke:
        recipe.update(batch_size=16, epochs=1)
    return recipe


def study_data(train_images: int, smoke: bool, dataset: str = "fashion_mnist"):
    """Fashion-MNIST or its graded corruptions, `fashion_mnist_c` (first `train_images` of
    the train split; full validation and test), or 8x8 noise for `--smoke`."""
    if smoke:
        from _common import smoke_data

        return smoke_data()
    from mexit_tf.data.dataset_loader import load_dataset

    return load_dataset({"dataset": dataset, "seed": SEED}).subset(train_images)


def add_dataset_argument(parser) -> None:
    parser.add_argument("--dataset", default="fashion_mnist",
                        choices=("fashion_mnist", "fashion_mnist_c"),
                        help="clean Fashion-MNIST, or its graded corruptions (results are "
                        "saved with the dataset's name beside the clean ones)")


def result_name(study: str, args) -> str:
    """`policy_study`, or `policy_study_fashion_mnist_c` for the corrupted data."""
    dataset = getattr(args, "dataset", "fashion_mnist")
    return study if dataset == "fashion_mnist" else f"{study}_{dataset}"


def study_backbone(smoke: bool, num_layers: int | None = None) -> mexit_tf.ViTBackbone:
    if smoke:
        return mexit_tf.ViTBackbone((8, 8, 1), 2, 16, num_layers or 4, 2, 32)
    overrides = {"num_layers": num_layers} if num_layers else {}
    return mexit_tf.ViTBackbone.from_preset("XS/4", image_shape=(28, 28, 1), **overrides)


def cached_model(name: str, key: dict, produce, work: Path | None):
    """`(model, seconds)`: `work/{name}.keras` if it was made with `key`, else `produce()`.

    `produce` returns `(model, seconds)`; its model is saved with `key` and the
    seconds beside it. `work=None` caches nothing.
    """
    key = json.loads(json.dumps(key))
    if work is not None:
        model_path, info_path = work / f"{name}.keras", work / f"{name}.json"
        if model_path.exists() and info_path.exists():
            info = json.loads(info_path.read_text())
            if info["key"] == key:
                return keras.models.load_model(model_path), info["seconds"]
    model, seconds = produce()
    print(f"made {name} in {seconds} s", flush=True)
    if work is not None:
        save_model_atomic(model, model_path)
        write_json_atomic(info_path, {"key": key, "seconds": seconds})
    return model, seconds


def train_cached(name: str, build, data, recipe: dict, work: Path | None):
    """`(model, fit seconds)`: `build()` trained end to end with `recipe` (cached by name)."""

    def produce():
        keras.utils.set_random_seed(recipe["seed"])
        model = build()
        augmentation = build_augmentation(**recipe["augment"], seed=recipe["seed"])
        batches = ArrayBatches(data.x_train, data.y_train, recipe["batch_size"], augmentation,
                               seed=recipe["seed"])
        model.compile(optimizer=build_optimizer(recipe, len(batches), recipe["epochs"]),
                      loss=SmoothedSparseCrossentropy(recipe["label_smoothing"]),
                      jit_compile=recipe["jit_compile"], run_eagerly=recipe["run_eagerly"])
        started = time.perf_counter()
        model.fit(batches, epochs=recipe["epochs"], verbose=0)
        return model, round(time.perf_counter() - started, 1)

    return cached_model(name, recipe, produce, work)


def accuracy(logits, labels) -> float:
    return round(float(np.mean(np.asarray(logits).argmax(-1) == np.asarray(labels))), 4)


def study_arguments(parser) -> None:
    """The options every study takes: budget, latency runs, model cache, smoke, note."""
    from _common import add_note_argument

    parser.add_argument("--train-images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=300, help="latency runs per candidate")
    parser.add_argument("--work", default="runs/study", help="cache of trained models")
    parser.add_argument("--smoke", action="store_true")
    add_note_argument(parser)


def study_setup(args) -> SimpleNamespace:
    """recipe, data, work (cache folder or None), runs, num_layers, num_classes of a study."""
    dataset = getattr(args, "dataset", "fashion_mnist")
    data = study_data(args.train_images, args.smoke, dataset)
    recipe = study_recipe(args.train_images, args.epochs, args.smoke)
    work = None if args.smoke else Path(args.work)
    if dataset == "fashion_mnist_c" and not args.smoke:
        # As corruption_depth.py and exit_placement.py write it, so their models are shared;
        # in a folder of its own, so the clean models' cache is not overwritten.
        from mexit_tf.data.corruptions import SEVERITIES

        recipe.update(dataset=dataset, corruptions=SEVERITIES)
        work = work / dataset
    return SimpleNamespace(
        recipe=recipe, data=data, work=work, runs=5 if args.smoke else args.runs,
        num_layers=study_backbone(args.smoke).num_layers, num_classes=len(data.class_names))
