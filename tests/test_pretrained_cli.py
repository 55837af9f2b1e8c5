"""`mexit train --from SOURCE`, offline: keras-hub ViT, DeiT and DINOv2 models at random
init saved to preset folders, each fine-tuned on a folder of images, then exported,
evaluated and predicted, in Python and by the JVM runner."""

import contextlib
import io
import json
import re
import subprocess

import keras
import numpy as np
import pytest
from conftest import photo_folder
from test_jvm_runner import ENV, MEXIT_JVM, jvm_runner  # noqa: F401 (a fixture)
from test_pretrained_import import tiny_hub_model

from mexit_tf.cli.main import main

CLASSES = ("boat", "car")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("photos"), CLASSES, size=20, spacing=100)


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """A saved keras-hub preset folder per family (classifiers keep their image converter)."""
    root = tmp_path_factory.mktemp("presets")
    folders = {}
    for family, classes in (("vit", 3), ("deit", 3), ("dinov2", None)):
        folders[family] = root / family
        tiny_hub_model(family, classes=classes).save_to_preset(str(folders[family]))
    return folders


def _one_line_error(capsys, pattern):
    """One error line, no traceback (what --from found may be said on lines before it)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert "Traceback" not in err and len(errors) == 1, err
    assert re.search(pattern, errors[0]), errors[0]


# Each family's own twist: DeiT with an sl_vit exit, DINOv2 at another image size.
FAMILIES = {"vit": [], "deit": ["--exits", "1:sl_vit,2"], "dinov2": ["--image-size", "24,24"]}


@pytest.fixture(scope="module")
def trained(presets, photos, tmp_path_factory):
    """`trained(family)`: `(family, run folder, stderr)` of `mexit train --from FOLDER
    --smoke`, run once per family on first use (training is what costs)."""
    runs = {}

    def train(family):
        if family not in runs:
            run = tmp_path_factory.mktemp(family) / "run"
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["train", "--from", str(presets[family]), "--data",
                             f"folder:{photos}", *FAMILIES[family], "--smoke", "--out", str(run)])
            assert code == 0, err.getvalue()[-3000:]
            runs[family] = (family, run, err.getvalue())
        return runs[family]

    return train


@pytest.fixture(scope="module", params=list(FAMILIES))
def family_run(request, trained):
    return trained(request.param)


def test_train_from_preset_folder(presets, family_run):
    family, run, err = family_run
    assert "settings: " in err and "layer_decay=0.75" in err and "head_epochs=1" in err
    metrics = json.loads((run / "metrics.json").read_text())
    config = metrics["config"]
    assert config["regime"] == "finetune" and config["pretrained"] == str(presets[family])
    assert config["augment"] == {"crop": 0.2, "flip": True}
    assert set(metrics["test"]) == {"exit_1", "exit_2", "final"}
    model = keras.saving.load_model(run / "model.keras")
    assert model.input_shape == (None, _size(family), _size(family), 3)
    assert metrics["class_names"] == list(CLASSES)
    if family == "dinov2":
        assert "resized from a 4x4 to a 6x6 patch grid" in err
    if family == "deit":
        assert type(model.exit_heads[0]).__name__ == "SLViTExit"
    # The classifiers' per-channel mean/std (1/scale, -offset/scale of their converter)
    # are inside the model; DINOv2 was saved without a converter: pixels / 255 only.
    std = None if family == "dinov2" else pytest.approx([58.4 / 255, 57.1 / 255, 57.4 / 255])
    assert model.backbone.pixel_std == std


def _size(family):
    return 24 if family == "dinov2" else 16


def test_from_keras_file_and_recipe_switches(presets, photos, tmp_path, capsys):
    import keras_hub

    source = tmp_path / "deit.keras"
    keras_hub.models.Backbone.from_preset(str(presets["deit"])).save(source)
    run = tmp_path / "run"
    assert main(["train", "--from", str(source), "--data", f"folder:{photos}", "--smoke",
                 "--set", "augment.crop=0", "--set", "head_epochs=0", "--out", str(run)]) == 0
    assert "no image converter saved with it" in capsys.readouterr().err
    config = json.loads((run / "metrics.json").read_text())["config"]
    assert config["augment"]["crop"] == 0 and config["head_epochs"] == 0


@pytest.mark.parametrize("source, extra, pattern", [
    ("vit_nonexistent_patch16", [], r"Unknown preset 'vit_nonexistent_patch16'.*deit_tiny"),
    ("deit_tiny_distilled_patch16_224_imagenet", [],
     r"Cannot fetch the weights of .*pass --from FOLDER"),
    ("{vit}", ["--image-size", "18,18"], r"multiple of the ViT's patch size 4x4"),
    ("{bad_keras}", [], r"holds a Sequential, not a keras-hub ViT, DeiT or DINOv2"),
    ("{resnet}", [], r"holds a keras-hub ResNetBackbone, not a ViT, DeiT or DINOv2"),
])
def test_from_errors_are_one_line(presets, photos, tmp_path, capsys, source, extra, pattern):
    bad = tmp_path / "bad.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(bad)
    if source == "{resnet}":  # a keras-hub preset folder of another family
        import keras_hub

        keras_hub.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64],
            stackwise_num_blocks=[1], stackwise_num_strides=[1], block_type="basic_block",
            image_shape=(16, 16, 3)).save_to_preset(str(tmp_path / "resnet"))
    source = source.format(vit=presets["vit"], bad_keras=bad, resnet=tmp_path / "resnet")
    assert main(["train", "--from", source, "--data", f"folder:{photos}", *extra, "--smoke",
                 "--out", str(tmp_path / "run")]) == 2
    _one_line_error(capsys, pattern)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def family_bundle(family_run, tmp_path_factory):
    """The family's run exported to a float32 bundle (export checks every stage's TFLite
    output against Keras before writing)."""
    family, run, _ = family_run
    bundle = tmp_path_factory.mktemp(f"{family}_bundle") / "bundle"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["export", str(run / "model.keras"), "--out", str(bundle)]) == 0
    return bundle


def _photos(photos):
    return sorted((photos / "boat").glob("*.png"))[:2] + sorted((photos / "car").glob("*.png"))[:2]


def test_model_from_preset_exports_evaluates_and_predicts(family_run, family_bundle, photos,
                                                         capsys):
    family, _, _ = family_run
    manifest = json.loads((family_bundle / "manifest.json").read_text())
    assert len(manifest["stages"]) == 3 and manifest["labels"] == list(CLASSES)
    assert manifest["input"]["shape"] == [1, _size(family), _size(family), 3]
    # Stage 0 takes raw pixels: whatever normalisation the preset had is inside it.
    assert manifest["input"]["value_range"] == [0.0, 255.0]
    if family != "dinov2":
        assert "pixel_mean" in manifest["input"]["preprocessing"]
    capsys.readouterr()
    assert main(["eval", str(family_bundle), "--data", f"folder:{photos}"]) == 0
    table = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in table[1:4]}
    assert table[0].split()[:2] == ["exit", "accuracy"] and list(rows) == [
        "exit_1", "exit_2", "final"]
    assert all(0 <= float(row[0]) <= 1 and row[2].endswith("%") for row in rows.values())
    assert table[4].startswith("policy ") and "x less than every stage" in table[4]
    images = _photos(photos)
    assert main(["predict", str(family_bundle), *map(str, images)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(images)  # one line per file, in order
    for line, image in zip(lines, images, strict=True):
        path, _, answer = line.partition(": ")
        assert path == str(image) and answer.split()[0] in CLASSES, line


@pytest.mark.usefixtures("jvm_runner")  # built, or skipped where its tools are missing
def test_jvm_runner_answers_like_python_on_a_model_from_preset(family_bundle, photos, capsys):
    """`mexit-jvm run` on a bundle from `--from`: the same exit, label and confidence as
    `mexit predict`, and every stage's logits (the per-channel mean/std folded into stage 0
    are invisible to it)."""
    images = _photos(photos)
    capsys.readouterr()
    assert main(["predict", str(family_bundle), *map(str, images), "--json"]) == 0
    python = json.loads(capsys.readouterr().out)
    result = subprocess.run([str(MEXIT_JVM), "run", str(family_bundle), *map(str, images),
                             "--json"], capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    jvm = json.loads(result.stdout)
    assert [row["image"] for row in jvm] == [row["image"] for row in python]
    assert [row["label"] for row in jvm] == [row["label"] for row in python]
    assert [row["exit"] for row in jvm] == [row["exit"] for row in python]
    for ours, theirs in zip(jvm, python, strict=True):
        assert ours["confidence"] == pytest.approx(theirs["confidence"], abs=1e-6)
    # Every stage's logits, bit for bit: stage 0 normalises alike on both sides.
    from mexit_tf.data.image_file import read_image_file
    from mexit_tf.runtime import Cascade

    cascade = Cascade(family_bundle)
    pixels = np.stack([read_image_file(path, cascade.input_shape[:2], 3)[0] for path in images])
    want, _ = cascade.run_all(pixels, progress=False)
    result = subprocess.run([str(MEXIT_JVM), "run", str(family_bundle), *map(str, images),
                             "--all-stages", "--json"], capture_output=True, text=True,
                            timeout=300, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)
    for stage, expected in enumerate(want):
        got = np.array([row["outputs"][stage] for row in rows], dtype=np.float32)
        np.testing.assert_array_equal(got, expected.astype(np.float32), err_msg=f"stage {stage}")


def test_model_from_preset_calibrates_and_benches(family_bundle, photos, tmp_path, capsys):
    capsys.readouterr()
    assert main(["calibrate", str(family_bundle), "--data", f"folder:{photos}", "--policy",
                 "entropy", "--out", str(tmp_path / "entropy"), "--json"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "entropy" / "manifest.json").read_text())["policy"][
        "type"] == "entropy"
    assert main(["bench", str(family_bundle), "--runs", "3", "--json"]) == 0
    stages = json.loads(capsys.readouterr().out)["stages"]
    assert list(stages) == ["exit_1", "exit_2", "final"]
    assert all(stage["xnnpack"]["partitions"] >= 1 for stage in stages.values())


def test_model_from_preset_goes_through_qat_and_int8(trained, photos, tmp_path, capsys):
    _, run, _ = trained("deit")
    assert main(["qat", str(run / "model.keras"), "--smoke", "--out", str(tmp_path / "qat")]) == 0
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "qat" / "model.keras"), "--out", str(bundle),
                 "--quantize", "int8"]) == 0
    assert json.loads((bundle / "manifest.json").read_text())["quantization"] == "int8"
    capsys.readouterr()
    assert main(["eval", str(bundle), "--data", f"folder:{photos}", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["exit_accuracy"]) == {
        "exit_1", "exit_2", "final"}
    photo = next((photos / "car").glob("*.png"))
    assert main(["predict", str(bundle), str(photo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] in CLASSES
