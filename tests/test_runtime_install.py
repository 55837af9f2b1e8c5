"""The runtime installs and runs alone: a fresh venv with `mexit_tf[runtime]` (no Keras, no
TensorFlow) runs `mexit predict/eval/bench` and `Cascade` on a bundle the full install made."""

import json
import subprocess
import sys
import venv
from pathlib import Path

import keras
import numpy as np
from conftest import tiny_backbone
from mexit_tf.converters import export_bundle
from PIL import Image

import mexit_tf
from mexit_tf.runtime import Cascade

ROOT = Path(__file__).resolve().parents[1]


def test_runtime_extra_runs_a_bundle_without_tensorflow(tmp_path):
    keras.utils.set_random_seed(0)
    model = mexit_tf.MultiExitModel(tiny_backbone(2), exits={1: "mlp_ee"}, num_outputs=2)
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    for name in ("ant", "bee"):
        (folder / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 256, (8, 8)).astype("uint8")).save(
                folder / name / f"{i}.png")
    x = rng.integers(0, 256, (20, 8, 8, 1)).astype("float32")
    export_bundle(model, tmp_path / "bundle", (x, rng.integers(0, 2, 20)), ["ant", "bee"],
                  progress=False, latency_runs=3)
    want = Cascade(tmp_path / "bundle").predict(x[0])

    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-e", f"{ROOT}[runtime]"],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-2000:]

    def run(*args, status=0):
        result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                                timeout=300, cwd=tmp_path)
        assert result.returncode == status, result.stderr[-2000:]
        return result.stdout if status == 0 else result.stderr

    def run_quietly(*args):
        result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                                timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        # A program that uses the runtime gets no native log lines it did not ask for.
        assert "INFO: [" not in result.stderr and "WARNING: [" not in result.stderr, \
            result.stderr[-2000:]
        return result.stdout

    np.save(tmp_path / "x0.npy", x[0])
    probe = ("import importlib.util as u, sys, numpy as np\n"
             "from mexit_tf.runtime import Cascade\n"
             "r = Cascade('bundle').predict(np.load('x0.npy'))\n"
             "print(r.exit_name, r.label, [u.find_spec(m) is None for m in "
             "('tensorflow', 'keras')], 'keras' in sys.modules)")
    assert run_quietly(python, "-c", probe).split() == [want.exit_name, want.label, "[True,",
                                                        "True]", "False"]
    mexit = env / "bin" / "mexit"
    predicted = json.loads(run(mexit, "predict", "bundle", folder / "ant" / "0.png", "--json"))
    assert predicted[0]["label"] in ("ant", "bee")
    report = json.loads(run(mexit, "eval", "bundle", "--data", f"folder:{folder}", "--json"))
    assert set(report["exit_accuracy"]) == {"exit_1", "final"}
    bench = json.loads(run(mexit, "bench", "bundle", "--runs", "3", "--json"))
    assert bench["stages"]["final"]["xnnpack"]["partitions"] >= 1
    # Calibration needs no Keras: a bundle made elsewhere is tuned to the data it meets.
    calibrated = json.loads(run(mexit, "calibrate", "bundle", "--data", f"folder:{folder}",
                                "--out", "recalibrated", "--json"))
    assert calibrated["bundle"] == "recalibrated" and (tmp_path / "recalibrated").is_dir()
    # Commands that need the toolkit say so in one line.
    said = run(mexit, "train", "--smoke", "--out", "run", status=2).strip().splitlines()
    assert len(said) == 1 and 'pip install "mexit_tf[train]"' in said[0], said
    assert sys.executable != str(python)  # the checks above ran in the fresh venv
