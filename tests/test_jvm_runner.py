"""The Kotlin cascade core on a real bundle, on the JVM (android_demo/jvm: LiteRT's C API
through a JNI bridge), against the Python cascade on real Fashion-MNIST test images.

The README's test command installs the tools (scripts/setup dev: gcc, a JDK, kotlinc); elsewhere these tests skip, saying
which tool is missing, except under CI=true, where a missing tool fails.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
from mexit_tf.converters import export_bundle
from mexit_tf.converters.golden_fixture import fixture_policies
from PIL import Image
from test_kotlin_core import _missing_tools

import mexit_tf
from mexit_tf.data import load_fashion_mnist
from mexit_tf.runtime import Cascade

ROOT = Path(__file__).resolve().parents[1]
MEXIT_JVM = ROOT / "android_demo" / "tools" / "mexit-jvm"
IMAGES = 200


@pytest.fixture(scope="module")
def jvm_runner():
    missing = _missing_tools() + ([] if shutil.which("gcc") else ["gcc"])
    if missing and not os.environ.get("CI"):
        pytest.skip("the JVM runner needs " + ", ".join(missing))
    assert not missing, f"CI must install {missing}"
    built = subprocess.run(["bash", ROOT / "android_demo" / "tools" / "build_jvm_runner.sh"],
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]


@pytest.fixture(scope="module")
def fashion_bundle(jvm_runner, tmp_path_factory):
    """A small ViT trained briefly on real Fashion-MNIST, exported (exits after blocks 1, 2),
    and the first 200 test images as 8-bit PNG files."""
    root = tmp_path_factory.mktemp("jvm")
    data = load_fashion_mnist()
    keras.utils.set_random_seed(0)
    backbone = mexit_tf.ViTBackbone(image_shape=(28, 28, 1), patch_size=7, hidden_dim=32,
                                    num_heads=2, mlp_dim=64, num_layers=3)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "mlp_ee", 2: "vit_ee"}, num_outputs=10)
    model.compile()
    model.fit(data.x_train[:3000], data.y_train[:3000], epochs=1, batch_size=64, verbose=0)
    export_bundle(model, root / "bundle", (data.x_val[:500], data.y_val[:500]),
                  data.class_names, progress=False, latency_runs=5)
    paths = []
    for index in range(IMAGES):
        paths.append(root / f"test_{index:03d}.png")
        Image.fromarray(data.x_test[index, :, :, 0]).save(paths[-1])
    return root / "bundle", paths, data.x_test[:IMAGES], data.y_test[:IMAGES]


def _mexit_jvm(*args):
    return subprocess.run([str(MEXIT_JVM), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _run_json(*args):
    result = _mexit_jvm("run", *args, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_stage_logit_is_bit_identical_to_python(fashion_bundle):
    bundle, paths, images, _ = fashion_bundle
    want, _ = Cascade(bundle).run_all(images, progress=False)
    rows = _run_json(bundle, *paths, "--all-stages")
    assert [row["image"] for row in rows] == list(map(str, paths))
    for stage, expected in enumerate(want):
        got = np.array([row["outputs"][stage] for row in rows], dtype=np.float32)
        assert got.shape == expected.shape == (IMAGES, 10)
        np.testing.assert_array_equal(got, expected.astype(np.float32), err_msg=f"stage {stage}")
    assert all(row["exit"] == "final" and len(row["stage_ms"]) == 3 for row in rows)


def test_exits_agree_with_python_under_every_policy_type(fashion_bundle, tmp_path):
    bundle, paths, images, labels = fashion_bundle
    cascade = Cascade(bundle)
    outputs, _ = cascade.run_all(images, progress=False)
    policies = fixture_policies(cascade, outputs, labels)
    assert [p.to_dict()["type"] for p in policies] == ["confidence", "entropy", "margin",
                                                       "patience", "budget"]
    seen_exits = set()
    for number, policy in enumerate(policies):
        path = tmp_path / f"policy_{number}.json"
        path.write_text(json.dumps(policy.to_dict()))
        rows = _run_json(bundle, *paths, "--policy", path)
        python = [cascade.predict(image, policy=policy) for image in images]
        kind = policy.to_dict()["type"]
        assert [row["exit_index"] for row in rows] == [r.exit_index for r in python], kind
        assert [row["label"] for row in rows] == [r.label for r in python], kind
        assert all(len(row["outputs"]) == row["exit_index"] + 1 for row in rows), kind
        seen_exits |= {row["exit_index"] for row in rows}
    assert seen_exits == {0, 1, 2}  # the policies send images to every exit


def test_a_deadline_is_met_and_reported_like_python(fashion_bundle):
    bundle, paths, _, _ = fashion_bundle
    rows = _run_json(bundle, *paths[:20], "--deadline-ms", "1000")
    assert all(row["deadline_met"] is True for row in rows)
    assert {row["stopped_by"] for row in rows} <= {"policy", "last_stage"}
    assert all(0 < row["elapsed_ms"] < 1000 for row in rows)
    free = _run_json(bundle, paths[0])
    assert free[0]["deadline_met"] is None


def test_the_command_prints_exit_label_and_stage_times(fashion_bundle):
    bundle, paths, _, _ = fashion_bundle
    result = _mexit_jvm("run", bundle, paths[0], paths[1])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{paths[0]}: ")
    assert " ms" in lines[0] and "stages " in lines[0]
    assert result.stderr == ""  # LiteRT's own start-up lines stay hidden


@pytest.mark.parametrize("args, message", [
    (["run"], "need a bundle and at least one image"),
    (["run", "{bundle}", "missing.png"], "image 'missing.png' does not exist"),
    (["run", "{bundle}", "{image}", "--threads", "zero"], "received 'zero'"),
    (["run", "{bundle}", "{image}", "--deadline-ms", "0"], "received '0'"),
    (["run", "{bundle}", "{image}", "--deadline-ms", "NaN"], "received 'NaN'"),
    (["run", "{bundle}", "{image}", "--policy", "{bundle}/manifest.json"], "policy"),
    (["serve", "{bundle}"], "unknown command 'serve'"),
    (["run", "{bundle}/stage_0.tflite", "{image}"], "is not a folder"),
])
def test_bad_input_is_one_line_and_status_2(fashion_bundle, args, message):
    bundle, paths, _, _ = fashion_bundle
    result = _mexit_jvm(*[a.format(bundle=bundle, image=paths[0]) for a in args])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Exception" not in result.stderr


def test_a_corrupted_stage_is_refused_by_name(fashion_bundle, tmp_path):
    bundle, paths, _, _ = fashion_bundle
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    with open(broken / "stage_1.tflite", "r+b") as stage:
        stage.truncate(100)
    result = _mexit_jvm("run", broken, paths[0])
    assert result.returncode == 2
    assert "stage file 'stage_1.tflite' is corrupted" in result.stderr
