"""benchmarks/pretrained_finetune.py runs end to end at smoke size (figures come from full
runs, not here); its summary and probe are checked against hand-computed values."""

import json

import numpy as np
import pytest
from conftest import load_benchmark


@pytest.fixture(scope="module")
def study():
    return load_benchmark("pretrained_finetune")


def test_pretrained_finetune_benchmark_smoke(study, tmp_path):
    study.main(["--smoke", "--out", str(tmp_path / "r.json")])
    result = json.loads((tmp_path / "r.json").read_text())
    assert set(result["starts"]) == {"pretrained", "random"} and result["seeds"] == [0]
    for start in ("pretrained", "random"):
        # The preset's weights arrive: our backbone's tokens are keras-hub's.
        assert result["import_max_abs_diff"][start] < 1e-4
        assert set(result["linear_probe"][start]) == {"block_1", "block_2"}
        assert all(0 <= v <= 1 for v in result["linear_probe"][start].values())
        row = result["starts"][start]
        run = row["runs"]["0"]
        assert set(run["test_accuracy"]) == set(run["train_accuracy"]) == {"exit_1", "final"}
        assert run["policy"]["speedup_vs_all_stages"] > 0
        assert row["summary"]["test_accuracy"]["final"]["mean"] == pytest.approx(
            run["test_accuracy"]["final"], abs=1e-4)


def test_summary_is_mean_min_and_max_over_seeds(study):
    def run(final, speedup, loss, seconds):
        return {"test_accuracy": {"exit_1": 0.5, "final": final},
                "train_accuracy": {"exit_1": 1.0, "final": 1.0}, "train_seconds": seconds,
                "policy": {"speedup_vs_all_stages": speedup, "loss_vs_final": loss}}

    summary = study.summarize({"0": run(0.8, 2.0, 0.01, 100.0),
                                   "1": run(0.9, 3.0, -0.01, 120.0),
                                   "2": run(0.7, 1.0, 0.03, 110.0)})
    assert summary["test_accuracy"]["final"] == {"mean": 0.8, "min": 0.7, "max": 0.9}
    assert summary["test_accuracy"]["exit_1"] == {"mean": 0.5, "min": 0.5, "max": 0.5}
    assert summary["policy_speedup"] == {"mean": 2.0, "min": 1.0, "max": 3.0}
    assert summary["policy_loss"] == {"mean": 0.01, "min": -0.01, "max": 0.03}
    assert summary["train_seconds"]["mean"] == 110.0


def test_ridge_probe_separates_what_a_line_separates_and_not_noise(study):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    noise = rng.normal(size=(120, 8))
    signal = noise.copy()
    signal[np.arange(120), y] += 5  # feature k is high for class k
    assert study.ridge_probe(signal[::2], y[::2], signal[1::2], y[1::2]) == 1.0
    assert study.ridge_probe(noise[::2], y[::2], noise[1::2], y[1::2]) < 0.6
