"""Every benchmark script runs at smoke size (figures come from full runs, not here)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_overhead_smoke(tmp_path):
    _load("training_overhead").main(["--smoke", "--out", str(tmp_path / "r.json")])
    import json

    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert set(rows) == {"backbone", "mlp_ee", "sl_vit"}
    assert all(row["step_ms"] > 0 for row in rows.values())


def test_staged_overhead_smoke():
    rows = _load("staged_overhead").main(["--smoke"])
    assert rows["tiny"]["ratio"] > 0 and rows["tiny"]["stages"] == 2


def test_dynamic_inference_smoke():
    result = _load("dynamic_inference").main(["--smoke"])
    assert set(result["policies"]) == {"confidence", "entropy", "margin", "patience"}
    for row in result["policies"].values():
        assert abs(sum(row["exit_histogram"]) - 1) < 1e-6


def test_int8_quantization_smoke():
    result = _load("int8_quantization").main(["--smoke"])
    assert set(result["bundle_bytes"]) == {"float32", "int8_qat", "int8_ptq"}
    assert set(result["latency"]) == {"1", "2"}
    assert all(0 <= v <= 1 for v in result["int8_qat_agreement_with_keras_qat"].values())


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("[a-z]*.py")))
def test_every_benchmark_script_is_covered(script):
    assert script in {"training_overhead", "staged_overhead", "dynamic_inference",
                      "int8_quantization", "report"}
