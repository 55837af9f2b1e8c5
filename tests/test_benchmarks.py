"""Every benchmark script runs at smoke size (figures come from full runs, not here)."""

import importlib.util
import json
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
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert set(rows) == {"backbone", "mlp_ee", "sl_vit"}
    assert all(row["step_ms"] > 0 for row in rows.values())


def test_staged_overhead_smoke():
    rows = _load("staged_overhead").main(["--smoke"])
    assert rows["tiny"]["ratio"] > 0 and rows["tiny"]["stages"] == 2
    assert rows["tiny"]["staged_compiled_ratio"] > 0 and rows["tiny"]["monolithic_compiled_ms"] > 0
    # the JVM runner timed both chains in each of the 2 trials
    assert rows["tiny"]["jvm_staged_ms"] > 0 and len(rows["tiny"]["jvm_ratio_range"]) == 2


def test_dynamic_inference_smoke(smoke_results):
    result = smoke_results[1]["dynamic_inference"]
    assert set(result["policies"]) == {"confidence", "entropy", "margin", "patience"}
    for row in result["policies"].values():
        assert abs(sum(row["exit_histogram"]) - 1) < 1e-6


def test_int8_quantization_smoke():
    result = _load("int8_quantization").main(["--smoke"])
    preset = result["cpu_preset"]
    modes = set(preset["modes"])
    assert {"float32", "float16", "int8 (QAT)", "int8 (PTQ)", "int8-static (QAT)",
            "int8-static (PTQ)", "LiteRT Quantizer dynamic_wi8_afp32"} <= modes
    for threads in ("1", "2"):
        assert modes <= set(preset["latency_ms"][threads])
        assert set(result["smoke"]["latency_ms"][threads]) == set(result["smoke"]["modes"])
    assert all(stage["partitions"] >= 1 for mode in preset["modes"].values()
               for stage in mode["stages"])
    assert all(0 <= value <= 1 for row in preset["accuracy"].values() for value in row.values())
    assert set(preset["dynamic_inference"]) == set(preset["modes"])
    from mexit_tf.versions import library_versions, machine_description

    record = {**result, "command": "int8_quantization --smoke", "seed": 0,
              "versions": library_versions(), "machine": machine_description()}
    page = "\n".join(_load("report").int8_section(record))
    assert "## Quantization modes side by side" in page and "smoke toy" in page
    assert "| int8 (QAT) |" in page


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """The study scripts run once at smoke size, saved as the report reads them."""
    from mexit_tf.versions import library_versions, machine_description

    folder = tmp_path_factory.mktemp("results")
    results = {}
    for name in ("exit_heads", "policy_study", "deployment", "dynamic_inference", "audio_exits",
                 "counting_exits", "audio_visual_counting", "deadline_study"):
        results[name] = _load(name).main(["--smoke"])
        record = {"benchmark": name, **results[name], "command": f"{name} --smoke", "seed": 0,
                  "versions": library_versions(), "machine": machine_description()}
        (folder / f"{name}.json").write_text(json.dumps(record))
    return folder, results


def test_deadline_study_smoke(smoke_results):
    result = smoke_results[1]["deadline_study"]
    for key, accuracy in (("cpu_preset", True), ("ti16_224", False)):
        for state in ("idle", "loaded"):
            table = result[key]["states"][state]
            assert len(table) == 3 and [r["deadline_ms"] for r in table] == sorted(
                r["deadline_ms"] for r in table)
            for row in table:
                for kind in ("gated", "ungated"):
                    anytime = row["candidates"][f"{kind} {result['default_setting']}"]
                    assert 0 <= anytime["floor_miss_rate"] <= 1
                    assert 0 <= anytime["miss_rate"] <= 1
                    assert ("accuracy" in anytime) == accuracy
                    assert ("accuracy_vs_best_static" in anytime) == accuracy
                    assert abs(sum(anytime["exit_histogram"]) - 1) < 1e-3
                assert row["floor_miss_rate"] == anytime["floor_miss_rate"]
                assert "budget" in row["candidates"]
    assert "truncated 4" in result["cpu_preset"]["states"]["idle"][0]["candidates"]


def test_background_load_runs_and_ends():
    import time

    spec = importlib.util.spec_from_file_location("_background_load",
                                                  BENCHMARKS / "_background_load.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    load = module.BackgroundLoad(processes=1, duty=0.5, period_ms=10, seconds=0.5)
    with load:
        (process,) = load._running
        assert process.poll() is None
    assert process.returncode is not None  # leaving the block ended it
    with module.BackgroundLoad(processes=1, seconds=0.2) as short:
        (process,) = short._running
        time.sleep(1.5)
        assert process.poll() == 0  # it ended by itself


def test_exit_heads_smoke(smoke_results):
    result = smoke_results[1]["exit_heads"]
    assert set(result["heads"]) == {"mlp_ee", "vit_ee", "sl_vit"}
    for row in result["heads"].values():
        assert set(row["accuracy"]) == {"end_to_end", "classifier_wise", "copycat"}
        assert all(0 <= a <= 1 for regime in row["accuracy"].values() for a in regime.values())
        assert row["head_ms"] > 0 and row["macs"] > 0 and len(row["stage_ms"]) == 4
    # The single-layer ViT head costs less than a full encoder block head, as built.
    assert result["heads"]["sl_vit"]["macs"] < result["heads"]["vit_ee"]["macs"]
    copycat = result["claims"]["copycat_beats_classifier_wise"]
    assert copycat["of"] == 3 * 3 and 0 <= copycat["holds_in"] <= copycat["of"]


def test_pareto_front_keeps_only_undominated_heads():
    pareto_front = _load("exit_heads").pareto_front
    rows = {name: {"accuracy": {"end_to_end": {"1": acc}}, "macs": macs}
            for name, acc, macs in (("cheap", 0.80, 10), ("better", 0.85, 50),
                                    ("dominated", 0.82, 60), ("best", 0.90, 500))}
    assert pareto_front(rows, "end_to_end", "1") == ["cheap", "better", "best"]


def test_policy_study_smoke(smoke_results):
    result = smoke_results[1]["policy_study"]
    assert set(result["bundles"]) == {"float32", "int8"}
    assert set(result["truncated"]) == {"1", "2", "3", "4"}
    for curves in result["bundles"].values():
        assert len(curves["static"]) == 4 and len(curves["stage_ms"]) == 4
        for points in curves["policies"].values():
            assert points, "every policy meets at least the loosest target"
            assert all(abs(sum(p["exit_histogram"]) - 1) < 1e-6 for p in points)


def test_versus_smaller_models_counts_points_beaten_by_a_faster_truncated_model():
    versus = _load("policy_study").versus_smaller_models
    bundles = {"float32": {"policies": {"confidence": [
        {"mean_ms": 1.0, "test_accuracy": 0.9},    # beats the 0.5 ms model (0.8)
        {"mean_ms": 0.6, "test_accuracy": 0.7}]}}}  # the 0.5 ms model is better
    baselines = {"1": {"ms": 0.5, "test_accuracy": 0.8}, "2": {"ms": 2.0, "test_accuracy": 0.95}}
    assert versus(bundles, baselines)["float32 confidence"] == {
        "points_beating_every_faster_smaller_model": 1, "of": 2}


def test_deployment_smoke(smoke_results):
    modes = smoke_results[1]["deployment"]["modes"]
    assert list(modes) == ["float32", "float16", "dynamic", "int8"]
    assert modes["int8"]["int8_from"] == "ptq"
    for row in modes.values():
        assert row["bytes"] > 0 and row["export_seconds"] > 0
        assert len(row["stage_ms_1_thread"]) == len(row["stage_ms_2_thread"]) == 3


def test_audio_exits_smoke(smoke_results):
    result = smoke_results[1]["audio_exits"]
    assert result["data"]["grid"] == [8, 5] and result["data"]["clips"]["real"] == 10
    for split in ("validation", "test", "real"):
        assert set(result["accuracy"][split]) == {"end_to_end", "plain", "copycat"}
        # plain and copycat share the backbone and final exit; only the early exits differ
        shared = result["accuracy"][split]
        assert shared["plain"]["final"] == shared["copycat"]["final"]
    for report in result["cascade"].values():
        assert abs(sum(report["exit_histogram"].values()) - 1) < 1e-6


def test_counting_exits_smoke(smoke_results):
    result = smoke_results[1]["counting_exits"]
    assert "SYNTHETIC" in result["data"] and result["policy"]["type"] == "agreement"
    for split in ("validation", "test"):
        assert set(result["mae"][split]) == {"end_to_end", "plain", "copycat"}
        assert all(value >= 0 for regime in result["mae"][split].values()
                   for value in regime.values())
    assert result["cascade_test"]["policy_mae"] >= 0


def test_audio_visual_counting_smoke(smoke_results):
    result = smoke_results[1]["audio_visual_counting"]
    assert "SYNTHETIC" in result["data"]
    names = set(result["mae"]["test"]["end_to_end"])
    assert names == {"exit_1", "exit_1_av", "final"}
    bundles = result["bundles"]
    assert bundles["visual_exits"]["audio_branch_stage"] == "final"
    assert bundles["audio_visual_exits"]["audio_branch_stage"] == "exit_1_av"
    # Every input of the audio-first bundle pays for the audio branch.
    assert bundles["audio_visual_exits"]["paid_for_audio"] == 1.0
    assert all(0 <= b["paid_for_audio"] <= 1 for b in bundles.values())


def test_report_renders_every_section_and_plot(smoke_results, tmp_path):
    folder, _ = smoke_results
    _load("report").main(["--results", str(folder), "--docs", str(tmp_path)])
    page = (tmp_path / "benchmarks.md").read_text()
    for heading in ("## Exit-head study", "## Policy study", "## Deployment",
                    "## Dynamic inference", "## Audio", "## Counting",
                    "## Audio-visual counting", "## Deadlines: the anytime bundle"):
        assert heading in page
    assert "Seed 0." in page
    for plot in ("exit_heads.png", "policy_study.png", "dynamic_inference_float32.png",
                 "deadline_study.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({plot})" in page


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("[a-z]*.py")))
def test_every_benchmark_script_is_covered(script):
    assert script in {"training_overhead", "staged_overhead", "dynamic_inference",
                      "int8_quantization", "deployment", "exit_heads", "policy_study",
                      "audio_exits", "counting_exits", "audio_visual_counting", "deadline_study",
                      "report"}


def test_readme_figures_link_to_sections_that_exist():
    import re

    root = BENCHMARKS.parent
    page = (root / "docs" / "benchmarks.md").read_text()
    slugs = {re.sub(r"[^\w\- ]", "", line[3:].strip().lower()).replace(" ", "-")
             for line in page.splitlines() if line.startswith("## ")}
    anchors = re.findall(r"docs/benchmarks\.md#([\w-]+)", (root / "README.md").read_text())
    assert anchors, "the README links no benchmark section"
    assert set(anchors) <= slugs, set(anchors) - slugs
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", page):
        assert (root / "docs" / image).exists(), image


def test_interleaved_medians_time_every_candidate_in_a_shuffled_order():
    common = _load("_common")
    order = []
    medians = common.interleaved_medians({name: (lambda n=name: order.append(n))
                                          for name in "abc"}, runs=30, warmup=0)
    assert set(medians) == set("abc") and all(m >= 0 for m in medians.values())
    rounds = [tuple(order[i:i + 3]) for i in range(0, len(order), 3)]
    assert len(rounds) == 30 and all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len(set(rounds)) > 1, "the order must change between rounds"
