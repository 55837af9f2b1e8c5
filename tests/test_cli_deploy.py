import json
import re

import keras
import numpy as np
import pytest
from conftest import tiny_backbone
from PIL import Image

import mexit_tf
from mexit_tf.cli.main import main


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in ("ant", "bee", "cat"):
        (root / label).mkdir()
        for i in range(12):
            Image.fromarray(rng.integers(0, 256, (8, 8)).astype("uint8")).save(
                root / label / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    keras.utils.set_random_seed(1)
    model = mexit_tf.MultiExitModel(tiny_backbone(3), exits={1: "mlp_ee", 2: "sl_vit"},
                                    num_outputs=3)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def cli_bundle(model_file, image_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "bundle"
    assert main(["export", str(model_file), "--out", str(out), "--data",
                 f"folder:{image_folder}", "--target-loss", "5"]) == 0
    return out


def _error(capsys, argv, pattern):
    import re

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert re.search(pattern, err[0]), err[0]


def test_eval_predict_bench_calibrate(cli_bundle, image_folder, capsys, tmp_path):
    capsys.readouterr()
    assert main(["eval", str(cli_bundle), "--data", f"folder:{image_folder}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["exit_accuracy"]) == {"exit_1", "exit_2", "final"}
    # Two speed-ups, each under its own name in the report and in print: stage time, and
    # the wall clock of a whole predict (their values are tested in test_bundle.py).
    assert {"speedup_vs_all_stages", "wall_clock_speedup"} <= set(report)
    assert main(["eval", str(cli_bundle), "--data", f"folder:{image_folder}"]) == 0
    printed = capsys.readouterr().out
    assert "x less than every stage" in printed and "x faster than running every stage" in \
        printed
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((16, 16, 3), "uint8")).save(big)
    assert main(["predict", str(cli_bundle), str(big), "--json"]) == 0
    captured = capsys.readouterr()
    assert "resized 16x16 to 8x8" in captured.err and "converted RGB to L" in captured.err
    assert json.loads(captured.out)[0]["label"] in ("ant", "bee", "cat")
    assert main(["bench", str(cli_bundle), "--runs", "5", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["stages"]) == 3
    assert main(["calibrate", str(cli_bundle), "--data", f"folder:{image_folder}",
                 "--policy", "entropy", "--target-loss", "5", "--in-place"]) == 0
    assert json.loads((cli_bundle / "manifest.json").read_text())["policy"]["type"] == "entropy"


def test_eval_reports_throughput_and_a_batch_1_latency_sample(cli_bundle, image_folder, capsys):
    capsys.readouterr()
    assert main(["eval", str(cli_bundle), "--data", f"folder:{image_folder}", "--json",
                 "--batch-size", "2", "--latency-sample", "2", "--threads", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["latency_sample"] == {"examples": 2, "threads": 1}
    assert report["throughput"]["batch_size"] == 2 and report["throughput"]["threads"] == 1
    assert report["throughput"]["images_per_s"] > 0
    assert main(["eval", str(cli_bundle), "--data", f"folder:{image_folder}",
                 "--batch-size", "2", "--latency-sample", "2"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"throughput \d+ images/s under the policy .*batches of 2", printed)
    assert "(batch 1, 1 thread(s), on 2 of the examples)" in printed


def test_predict_answers_folders_in_batches_in_order(cli_bundle, image_folder, tmp_path,
                                                     capsys):
    nested = tmp_path / "photos"
    (nested / "deeper").mkdir(parents=True)
    sources = sorted((image_folder / "bee").glob("*.png"))[:7]
    for number, source in enumerate(sources):
        folder = nested if number < 3 else nested / "deeper"
        (folder / f"p{number}.png").write_bytes(source.read_bytes())
    (nested / "deeper" / "broken.png").write_text("not an image")
    (nested / "notes.txt").write_text("not an image either, and not one by its name")
    capsys.readouterr()
    assert main(["predict", str(cli_bundle), str(nested), "--batch-size", "1"]) == 2
    one_by_one = capsys.readouterr()
    assert main(["predict", str(cli_bundle), str(nested), "--batch-size", "4"]) == 2
    batched = capsys.readouterr()
    lines = batched.out.strip().splitlines()
    # The folder's own files first, then its subfolder's, each in name order; one line each.
    want = [str(nested / f"p{n}.png") for n in range(3)] + \
        [str(nested / "deeper" / f"p{n}.png") for n in range(3, 7)]
    assert [line.split(": ")[0] for line in lines] == want
    assert all("its share of a batch of" in line for line in lines)
    answers = [line.split(", ")[0] for line in lines]
    assert answers == [line.split(", ")[0] for line in one_by_one.out.strip().splitlines()]
    assert "broken.png: cannot decode" in batched.err
    assert "1 of 8 file(s) could not be read" in batched.err
    _error(capsys, ["predict", str(cli_bundle), str(tmp_path / "photos" / "deeper"),
                    str(tmp_path), "--batch-size", "0"], r"--batch-size")


def test_calibration_never_touches_the_test_split(model_file, image_folder, tmp_path,
                                                  monkeypatch):
    import mexit_tf.data.dataset_loader as loader

    real = loader.load_dataset
    poisoned_calls = []

    def poisoned(config, progress=None):
        data = real(config, progress)
        data.x_test = np.full((len(data.x_test), 5, 5, 5), np.nan)  # unusable if touched
        poisoned_calls.append(config["dataset"])
        return data

    monkeypatch.setattr(loader, "load_dataset", poisoned)
    out = tmp_path / "b"
    assert main(["export", str(model_file), "--out", str(out), "--data",
                 f"folder:{image_folder}"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["calibration"]["calibration_examples"] == 3  # 10% of each class of 12
    assert "validation split" in manifest["data_source"]
    assert poisoned_calls  # the export did read its data through the poisoned loader


def test_export_bad_inputs(model_file, image_folder, cli_bundle, tmp_path, capsys):
    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(plain)
    _error(capsys, ["export", str(plain), "--out", str(tmp_path / "x")],
           "holds a Sequential, not a mexit_tf MultiExitModel")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    _error(capsys, ["export", str(junk), "--out", str(tmp_path / "x")], "not a readable")
    _error(capsys, ["export", str(tmp_path / "none.keras"), "--out", str(tmp_path / "x")],
           "does not exist")
    _error(capsys, ["export", str(model_file), "--out", str(cli_bundle), "--data",
                    f"folder:{image_folder}"], "already exists; pass --overwrite")
    _error(capsys, ["export", str(model_file), "--out", str(tmp_path / "x"), "--data",
                    f"folder:{image_folder}", "--target-loss", "-3"],
           "--target-loss is in accuracy points, 0 to 100; received -3.0")
    _error(capsys, ["export", str(model_file), "--out", str(tmp_path / "x"), "--data",
                    f"folder:{image_folder}", "--sigmas", "-1"],
           "--sigmas must be between 0 and 10; received -1.0")
    assert not (tmp_path / "x").exists()


def test_runtime_bad_inputs(cli_bundle, tmp_path, capsys):
    import shutil

    text = tmp_path / "notes.png"
    text.write_text("hello")
    assert main(["predict", str(cli_bundle), str(text), str(tmp_path / "missing.png")]) == 2
    err = capsys.readouterr().err
    assert "notes.png: cannot decode as an image" in err and "missing.png: no such file" in err
    _error(capsys, ["eval", str(tmp_path)], "not a bundle")
    broken = tmp_path / "broken"
    shutil.copytree(cli_bundle, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["policy"] = {"type": "confidence", "thresholds": [float("nan"), 0.5]}
    (broken / "manifest.json").write_text(json.dumps(manifest))
    _error(capsys, ["bench", str(broken)], "NaN is not a JSON number")
    manifest["policy"] = {"type": "confidence", "thresholds": [0.5, 2.0]}
    (broken / "manifest.json").write_text(json.dumps(manifest))
    _error(capsys, ["predict", str(broken), str(text)], r"in \[0.0, 1.0\]; received 2.0")
    (broken / "stage_2.tflite").write_bytes(b"truncated")
    manifest["policy"] = {"type": "confidence", "thresholds": [0.5, 0.5]}
    (broken / "manifest.json").write_text(json.dumps(manifest))
    _error(capsys, ["eval", str(broken)], "is 9 bytes; the manifest says")


def test_quickstart_smoke_runs_the_whole_path(tmp_path):
    from conftest import run_mexit

    out = tmp_path / "qs"
    result = run_mexit("quickstart", "--smoke", "--int8", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("model.keras", "metrics.json", "eval.json", "tradeoff.png",
                 "bundle/manifest.json", "qat/model.keras", "eval_int8.json",
                 "tradeoff_int8.png", "bundle_int8/manifest.json"):
        assert (out / name).is_file(), name
    report = json.loads((out / "eval.json").read_text())
    assert set(report["exit_accuracy"]) == {"exit_1", "final"}
    int8 = json.loads((out / "bundle_int8/manifest.json").read_text())
    assert int8["quantization"] == "int8" and int8["int8_from"] == "qat"
    # Quickstart reports stage time (no wall-clock pass), under that figure's own name.
    assert "x less than every stage" in result.stdout and "wall clock" not in result.stdout
    assert re.search(r"^time: data \d+ s, training \d+ s, .*; total \d+ s$", result.stdout,
                     re.MULTILINE), result.stdout[-500:]
    again = run_mexit("quickstart", "--smoke", "--out", out)
    assert again.returncode == 2 and "pass --overwrite" in again.stderr
