"""benchmarks/pretrained_finetune.py runs end to end at smoke size (figures come from full
runs, not here)."""

import importlib.util
import json
from pathlib import Path


def test_pretrained_finetune_benchmark_smoke(tmp_path):
    path = Path(__file__).parent.parent / "benchmarks" / "pretrained_finetune.py"
    spec = importlib.util.spec_from_file_location("pretrained_finetune", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--smoke", "--out", str(tmp_path / "r.json")])
    result = json.loads((tmp_path / "r.json").read_text())
    assert set(result["starts"]) == {"pretrained", "random"}
    for row in result["starts"].values():
        assert set(row["test_accuracy"]) == {"exit_1", "final"}
        assert row["policy"]["speedup_vs_all_stages"] > 0
