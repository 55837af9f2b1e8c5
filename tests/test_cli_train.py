import json

import pytest
from conftest import run_mexit

import mexit_tf
from mexit_tf.cli.settings import apply_overrides


def _one_line_error(result, pattern):
    import re

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_train_smoke_writes_model_and_metrics(tmp_path):
    out = tmp_path / "run"
    result = run_mexit("train", "--preset", "fashion_mnist_cpu", "--smoke", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {"exit_1", "final"}
    assert all(0.0 <= v <= 1.0 for v in metrics["test"].values())
    assert "fashion-mnist" in metrics["data"]  # the source is recorded with the figures
    assert (out / "model.keras").stat().st_size > 0
    assert not list(out.glob(".*tmp*"))
    # stdout is a pipe here: plain progress lines, not a redrawn bar.
    assert "epoch 1/1 step 4/4 (100%) loss" in result.stdout


@pytest.mark.parametrize("args, pattern", [
    (["--preset", "nope"], "Unknown preset 'nope'"),
    (["--preset", "fashion_mnist_cpu", "--set", "epochs"], "KEY=VALUE; received 'epochs'"),
    (["--preset", "fashion_mnist_cpu", "--set", "epoch=2"], "Unknown setting 'epoch'"),
    (["--preset", "fashion_mnist_cpu", "--regime", "greedy"], "Unknown training regime 'greedy'"),
    (["--preset", "fashion_mnist_cpu", "--smoke", "--set", "dataset='folder:/nonexistent'",
      "--set", "image_size=(8, 8)"], "does not exist"),
    (["--preset", "fashion_mnist_cpu", "--smoke", "--set", "exits={1: 'mlp_eee'}"],
     "Unknown exit head 'mlp_eee' after block 1"),
    (["--preset", "fashion_mnist_cpu", "--smoke", "--set", "exits={5: 'mlp_ee'}"],
     "out of range"),
])
def test_train_bad_input_is_one_line(tmp_path, args, pattern):
    result = run_mexit("train", *args, "--out", tmp_path / "o")
    _one_line_error(result, pattern)
    assert not (tmp_path / "o" / "model.keras").exists()


def test_overrides_parse_literals_and_nested_keys():
    config = apply_overrides({"epochs": 1, "backbone": {}}, ["epochs=3", "backbone.num_layers=2"])
    assert config == {"epochs": 3, "backbone": {"num_layers": 2}}
    with pytest.raises(mexit_tf.MexitError):
        apply_overrides({}, ["=3"])


def test_training_resumes_after_interruption(tmp_path):
    import keras

    from mexit_tf.configs import get_preset
    from mexit_tf.training.trainer import train_from_config

    config = get_preset("fashion_mnist_cpu", smoke=True) | {"epochs": 3, "train_limit": 64,
                                                            "eval_limit": 32}
    started = []

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)
            if epoch == 2 and len(started) == 3:
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        train_from_config(config, tmp_path, verbose=0, callbacks=[Interrupt()])
    assert not (tmp_path / "model.keras").exists()
    train_from_config(config, tmp_path, verbose=0, callbacks=[Interrupt()])
    assert started == [0, 1, 2, 2]  # the second run picked up at epoch 3 of 3
    assert (tmp_path / "model.keras").exists()
