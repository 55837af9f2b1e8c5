"""Shared tiny fixtures: TensorFlow is slow to start, so models stay toy-sized."""

import os
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import mexit_tf  # noqa: E402

TINY = dict(image_shape=(8, 8, 1), patch_size=2, hidden_dim=16, num_heads=2, mlp_dim=32)
ALL_HEADS = ["mlp_ee", "vit_ee", "cnn_ignore", "cnn_add", "cnn_project", "mixer_ee",
             "resmlp_ee", "sl_vit"]


def tiny_backbone(num_layers=3, **overrides):
    return mexit_tf.ViTBackbone(**{**TINY, "num_layers": num_layers, **overrides})


def photo_folder(root, classes, size, spacing, count=12):
    """`root/<class>/<i>.png`: colour images, each class `spacing` levels brighter than the
    one before (so a tiny model can tell them apart); returns `root`."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(classes):
        (root / name).mkdir()
        for i in range(count):
            pixels = rng.integers(0, 60, (size, size, 3)) + spacing * index
            Image.fromarray(pixels.astype("uint8")).save(root / name / f"{i}.png")
    return root


def tiny_images(count=16, seed=0, shape=(8, 8, 1)):
    return np.random.default_rng(seed).integers(0, 256, (count, *shape)).astype("uint8")


def tiny_labels(count=16, classes=3, seed=0):
    return np.random.default_rng(seed).integers(0, classes, count).astype("int32")


@pytest.fixture(scope="session")
def all_heads_model():
    """One model with every exit head (after blocks 1..8) and a final exit; untrained."""
    keras.utils.set_random_seed(0)
    backbone = tiny_backbone(num_layers=9)
    return mexit_tf.MultiExitModel(
        backbone, exits={i + 1: head for i, head in enumerate(ALL_HEADS)}, num_outputs=3)


@pytest.fixture(scope="session")
def bundle(all_heads_model, tmp_path_factory):
    """The all-heads model exported once; parity is checked inside export."""
    path = tmp_path_factory.mktemp("bundles") / "all_heads"
    from mexit_tf.converters import export_bundle

    export_bundle(all_heads_model, path, (tiny_images(48, seed=5), tiny_labels(48, seed=5)),
                  labels=["a", "b", "c"], latency_runs=5, progress=False)
    return path


def assert_round_trips(model, x, path, atol=1e-6):
    """Saves `model` to `path` (.keras), loads it back: every exit predicts as before."""
    before = model.predict(x, verbose=0)
    model.save(path)
    after = keras.saving.load_model(path).predict(x, verbose=0)
    for name in model.exit_names:
        np.testing.assert_allclose(after[name], before[name], atol=atol)


def run_mexit(*args, cwd=None, timeout=600):
    """Runs the `mexit` CLI in a subprocess; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "mexit_tf.cli.main", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)


BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")


def load_benchmark(name: str):
    """benchmarks/{name}.py as a module (the scripts are not a package; their own imports,
    `_common` and the like, resolve from the benchmarks folder)."""
    import importlib.util

    if BENCHMARKS not in sys.path:
        sys.path.insert(0, BENCHMARKS)
    spec = importlib.util.spec_from_file_location(name, os.path.join(BENCHMARKS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
