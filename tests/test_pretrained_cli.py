"""`mexit train --from SOURCE`, offline: keras-hub models at random init saved to preset
folders, fine-tuned on a folder of images, then exported, evaluated and predicted."""

import json
import re

import keras
import pytest
from conftest import photo_folder
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


@pytest.mark.parametrize("family, extra", [
    ("vit", []), ("deit", ["--exits", "1:sl_vit,2"]), ("dinov2", ["--image-size", "24,24"])])
def test_train_from_preset_folder(presets, photos, tmp_path, capsys, family, extra):
    run = tmp_path / "run"
    assert main(["train", "--from", str(presets[family]), "--data", f"folder:{photos}",
                 *extra, "--smoke", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "settings: " in err and "layer_decay=0.75" in err and "head_epochs=1" in err
    metrics = json.loads((run / "metrics.json").read_text())
    config = metrics["config"]
    assert config["regime"] == "finetune" and config["pretrained"] == str(presets[family])
    assert config["augment"] == {"crop": 0.2, "flip": True}
    assert set(metrics["test"]) == {"exit_1", "exit_2", "final"}
    model = keras.saving.load_model(run / "model.keras")
    size = 24 if family == "dinov2" else 16
    assert model.input_shape == (None, size, size, 3)
    assert metrics["class_names"] == list(CLASSES)
    if family == "dinov2":
        assert "resized from a 4x4 to a 6x6 patch grid" in err
    if family == "deit":
        assert type(model.exit_heads[0]).__name__ == "SLViTExit"


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
def deit_run(presets, photos, tmp_path_factory):
    run = tmp_path_factory.mktemp("deit") / "run"
    assert main(["train", "--from", str(presets["deit"]), "--data", f"folder:{photos}",
                 "--smoke", "--out", str(run)]) == 0
    return run


def _export_eval_predict(model_file, bundle, photos, capsys, quantize):
    # Export checks every stage's TFLite output against Keras (parity) before writing.
    assert main(["export", str(model_file), "--out", str(bundle), "--quantize", quantize]) == 0
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert len(manifest["stages"]) == 3 and manifest["input"]["shape"] == [1, 16, 16, 3]
    capsys.readouterr()
    assert main(["eval", str(bundle), "--data", f"folder:{photos}", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["exit_accuracy"]) == {
        "exit_1", "exit_2", "final"}
    photo = next((photos / "car").glob("*.png"))
    assert main(["predict", str(bundle), str(photo), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] in CLASSES


def test_model_from_preset_exports_evaluates_and_predicts(deit_run, photos, tmp_path, capsys):
    _export_eval_predict(deit_run / "model.keras", tmp_path / "bundle", photos, capsys,
                         "float32")


def test_model_from_preset_goes_through_qat_and_int8(deit_run, photos, tmp_path, capsys):
    assert main(["qat", str(deit_run / "model.keras"), "--smoke", "--out",
                 str(tmp_path / "qat")]) == 0
    _export_eval_predict(tmp_path / "qat" / "model.keras", tmp_path / "bundle", photos, capsys,
                         "int8")
