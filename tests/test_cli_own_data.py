"""The own-images path through the CLI: train on a folder, the data source travels,
labels match by name, nothing of the user's is overwritten, bad flags are one line."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import photo_folder
from PIL import Image

from mexit_tf.cli.main import build_parser, main

CLASSES = ("astronaut", "cat", "coffee")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("photos"), CLASSES, size=16, spacing=80)


@pytest.fixture(scope="module")
def trained(photos, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "photos"
    assert main(["train", "--data", f"folder:{photos}", "--smoke", "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def bundle(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "photos"
    assert main(["export", str(trained / "model.keras"), "--out", str(out)]) == 0
    return out


def _one_line(capsys, argv, pattern, code=2):
    assert main(argv) == code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()
           and not line.startswith("INFO:")]
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert re.search(pattern, err[0]), err[0]


def test_the_folder_trains_at_its_own_size_and_the_source_is_recorded(trained, photos):
    import keras

    metrics = json.loads((trained / "metrics.json").read_text())
    assert "(16, 16, 3)" in metrics["data"]
    model = keras.saving.load_model(trained / "model.keras", compile=False)
    assert model.input_shape == (None, 16, 16, 3)
    assert model.data_source["path"] == str(photos.resolve())
    assert model.data_source["class_names"] == list(CLASSES)
    assert model.data_source["split"].startswith("stratified per class")


def test_export_defaults_to_the_recorded_data(bundle, photos):
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["labels"] == list(CLASSES)
    assert manifest["data"]["path"] == str(photos.resolve())
    # 1 validation image per class: the recorded seed reproduced the training split.
    assert manifest["calibration"]["calibration_examples"] == 3
    assert "validation split" in manifest["data_source"]


def test_data_with_other_classes_is_refused_by_name(trained, bundle, tmp_path, capsys):
    other = tmp_path / "other"
    for name in ("ant", "bee"):
        (other / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.zeros((16, 16, 3), "uint8")).save(other / name / f"{i}.png")
    before = (bundle / "manifest.json").read_bytes()
    _one_line(capsys, ["export", str(trained / "model.keras"), "--out", str(tmp_path / "b"),
                       "--data", f"folder:{other}"], r"not among the model's labels: ant, bee")
    _one_line(capsys, ["calibrate", str(bundle), "--data", f"folder:{other}", "--in-place"],
              r"differ .* ant, bee")
    _one_line(capsys, ["export", str(trained / "model.keras"), "--out", str(tmp_path / "b"),
                       "--data", "fashion_mnist"], r"shape \(28, 28, 1\); the model takes")
    assert not (tmp_path / "b").exists()
    assert (bundle / "manifest.json").read_bytes() == before


def test_a_subset_of_classes_is_evaluated_by_name(bundle, photos, tmp_path, capsys):
    from mexit_tf.runtime import Cascade

    subset = tmp_path / "cats"
    (subset / "cat").mkdir(parents=True)
    for path in sorted((photos / "cat").glob("*.png")):
        (subset / "cat" / path.name).write_bytes(path.read_bytes())
    capsys.readouterr()
    assert main(["eval", str(bundle), "--data", f"folder:{subset}", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "1 of the 3 classes (cat)" in captured.err
    assert str(subset) in report["data_source"] and "test split" in report["data_source"]
    # Scored against "cat" (index 1 in the bundle), not against folder index 0.
    from mexit_tf.data.image_folder import load_image_folder

    data = load_image_folder(subset, seed=0)
    outputs, _ = Cascade(bundle).run_all(data.x_test, progress=False)
    expected = float(np.mean(outputs[-1].argmax(-1) == 1))
    assert report["exit_accuracy"]["final"] == pytest.approx(expected)


def test_eval_without_data_uses_the_recorded_source_and_says_so(bundle, capsys):
    assert main(["eval", str(bundle)]) == 0
    captured = capsys.readouterr()
    assert "recorded with the model" in captured.err
    assert re.search(r"^data: image folder .*photos.*, test split$", captured.out, re.M)


def test_calibrate_writes_a_copy_or_in_place_and_warns_when_small(bundle, tmp_path, capsys):
    before = (bundle / "manifest.json").read_bytes()
    _one_line(capsys, ["calibrate", str(bundle)], "Pass --out NEW_BUNDLE .* or --in-place")
    copy = tmp_path / "copy"
    assert main(["calibrate", str(bundle), "--out", str(copy), "--policy", "entropy"]) == 0
    captured = capsys.readouterr()
    assert "calibrated on only 3 examples; the expected accuracy's standard error is" \
        in captured.err
    thresholds = re.search(r'"thresholds": \[([^\]]*)\]', captured.out).group(1)
    assert all(len(value.strip()) <= 7 for value in thresholds.split(","))  # rounded
    assert json.loads((copy / "manifest.json").read_text())["policy"]["type"] == "entropy"
    assert (bundle / "manifest.json").read_bytes() == before
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in bundle.iterdir())
    assert main(["calibrate", str(copy), "--in-place", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policy"]["type"] == "confidence" and report["calibration_examples"] == 3


def test_nothing_of_the_users_is_replaced(trained, bundle, tmp_path, capsys):
    model = str(trained / "model.keras")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    file = tmp_path / "afile"
    file.write_text("keep")
    _one_line(capsys, ["export", model, "--out", str(mine), "--overwrite"],
              "is not a mexit bundle .* refusing to replace it")
    _one_line(capsys, ["export", model, "--out", str(file), "--overwrite"],
              "exists and is not a folder")
    _one_line(capsys, ["calibrate", str(bundle), "--out", str(mine), "--overwrite"],
              "is not a mexit bundle")
    _one_line(capsys, ["train", "--smoke", "--out", str(trained)],
              "holds a finished run; pass --resume .* or --overwrite")
    _one_line(capsys, ["train", "--smoke", "--out", str(trained), "--resume"],
              "finished; nothing to resume")
    (mine / "model.keras").write_text("my own")
    _one_line(capsys, ["train", "--smoke", "--out", str(mine), "--overwrite"],
              "no mexit run wrote; refusing")
    _one_line(capsys, ["train", "--smoke", "--out", str(file)], "is a file")
    assert (mine / "notes.txt").read_text() == "keep" and file.read_text() == "keep"
    assert (mine / "model.keras").read_text() == "my own"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "mine"]  # no leftovers


def test_overwrite_replaces_a_bundle_only_when_everything_in_it_is_ours(bundle, tmp_path,
                                                                         capsys):
    copy = tmp_path / "copy"
    assert main(["calibrate", str(bundle), "--out", str(copy)]) == 0
    capsys.readouterr()
    (copy / "my_notes.txt").write_text("keep")
    _one_line(capsys, ["calibrate", str(bundle), "--out", str(copy), "--overwrite"],
              "holds files mexit did not write \\(my_notes.txt\\)")
    assert (copy / "my_notes.txt").read_text() == "keep"
    (copy / "my_notes.txt").unlink()
    assert main(["calibrate", str(bundle), "--out", str(copy), "--overwrite"]) == 0


def test_a_one_class_folder_is_refused_not_trained_as_regression(tmp_path, capsys):
    (tmp_path / "only" / "cat").mkdir(parents=True)
    for i in range(6):
        Image.fromarray(np.full((16, 16, 3), i * 30, "uint8")).save(
            tmp_path / "only" / "cat" / f"{i}.png")
    assert main(["train", "--data", f"folder:{tmp_path / 'only'}", "--smoke", "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and re.search(
        r"^mexit train: error: .* has 1 class \(cat\); a classifier needs at least two",
        err.splitlines()[-1]), err[-500:]
    assert not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.parametrize("argv, pattern", [
    (["bench", "B", "--runs", "0"], "--runs: must be >= 1; received 0"),
    (["eval", "B", "--limit", "0"], "--limit: must be >= 1; received 0"),
    (["eval", "B", "--limit", "-5"], "--limit: must be >= 1; received -5"),
    (["eval", "B", "--threads", "two"], "--threads: expected a whole number >= 1; received 'two'"),
    (["train", "--out", "X", "--set", "batch_size=abc"],
     "batch_size must be a whole number >= 1; received 'abc'"),
    (["train", "--out", "X", "--epochs", "0"], "--epochs: must be >= 1; received 0"),
    (["train", "--out", "X", "--lr", "nan"], "--lr: must be a finite number > 0; received 'nan'"),
    (["train", "--out", "X", "--image-size", "a,b"], "expected H,W"),
    (["train", "--out", "X", "--image-size", "2,2"], "Image size 2x2 must be a multiple"),
    (["train", "--out", "X", "--exits", "x"], "expected blocks like 2,4"),
    (["export", "M", "--out", "X", "--budget-ms", "-1"], "--budget-ms: must be a finite number"),
    (["qat", "M", "--out", "X", "--lr", "0"], "--lr: must be a finite number > 0"),
])
def test_bad_flags_are_one_line(argv, pattern, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _one_line(capsys, argv, re.escape(pattern) if "must be a multiple" not in pattern
              else pattern)
    assert not (tmp_path / "X").exists()


def test_predict_answers_the_good_files_and_names_the_bad(bundle, photos, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    good = photos / "cat" / "0.png"
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((16, 16), 65535, "uint16")).save(deep)
    assert main(["predict", str(bundle), str(good), str(bad), str(deep)]) == 2
    captured = capsys.readouterr()
    assert captured.out.count(": ") == 2 and str(good) in captured.out
    assert f"{bad}: cannot decode as an image" in captured.err
    assert "scaled I;16 (16-bit) to 8-bit" in captured.err
    assert "1 of 3 file(s) could not be read" in captured.err


def test_a_decompression_bomb_is_one_line_and_the_other_files_are_answered(
        bundle, photos, tmp_path, capsys, monkeypatch):
    from PIL import Image as PILImage

    bomb = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((64, 64), "uint8")).save(bomb)
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # 64x64 is over twice the limit
    good = photos / "cat" / "1.png"
    assert main(["predict", str(bundle), str(bomb), str(good)]) == 2
    captured = capsys.readouterr()
    assert f"{bomb}: cannot decode as an image" in captured.err and "Traceback" not in \
        captured.err
    assert str(good) in captured.out


def test_every_flag_has_help_and_help_needs_no_tensorflow():
    import argparse

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"mexit {name} {action.option_strings or action.dest}"
    probe = ("import sys; from mexit_tf.cli.main import main\n"
             "try: main(['train', '--help'])\n"
             "except SystemExit: pass\n"
             "print('modules', 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=120)
    assert "--image-size H,W" in result.stdout
    assert result.stdout.strip().endswith("modules False False")
    version = subprocess.run([sys.executable, "-m", "mexit_tf.cli.main", "--version"],
                             capture_output=True, text=True, timeout=120)
    assert re.fullmatch(r"mexit_tf \d+\.\d+\.\d+\n", version.stdout)
