"""Every benchmark script runs at smoke size (figures come from full runs, not here)."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import load_benchmark

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


_load = load_benchmark


class FakeClock:
    """A `time` stand-in whose `perf_counter` moves only when a fake workload says so."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now

    def spend(self, ms):
        self.now += ms / 1000.0


def _injected_clock(monkeypatch, module):
    clock = FakeClock()
    monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=clock.perf_counter))
    return clock


def _cost_of_exit_mix(histogram, cumulative_ms):
    """Mean ms per input when a share `histogram[k]` leaves after `cumulative_ms[k]`."""
    return float(np.dot(histogram, cumulative_ms))


def test_training_overhead_smoke(tmp_path):
    _load("training_overhead").main(["--smoke", "--out", str(tmp_path / "r.json")])
    result = json.loads((tmp_path / "r.json").read_text())
    assert set(result["rows"]) == {"backbone", "mlp_ee", "sl_vit"}
    assert result["smoke"] and result["batch_size"] == 8


def test_training_steps_are_timed_per_step_by_median_without_the_compile_step(monkeypatch):
    module = _load("training_overhead")
    clock = _injected_clock(monkeypatch, module)

    class FakeModel:
        """Each `train_on_batch` costs the next of `step_ms`, then `last_ms` forever."""

        def __init__(self, step_ms, last_ms):
            self.step_ms, self.last_ms = list(step_ms), last_ms

        def compile(self, **settings):
            pass

        def train_on_batch(self, x, y):
            clock.spend(self.step_ms.pop(0) if self.step_ms else self.last_ms)

    # The first call compiles (1 s, not timed); "spiky" has one slow block of steps, which
    # a median ignores and a mean would not.
    models = {"steady": FakeModel([1000], 4.0),
              "spiky": FakeModel([1000, 90, 90, 2, 2, 2, 2], 2.0)}
    seconds = module.time_steps_interleaved(models, None, None, steps=2, repeats=3)
    assert seconds == {"steady": pytest.approx(0.004), "spiky": pytest.approx(0.002)}


def test_staged_overhead_smoke(monkeypatch):
    module = _load("staged_overhead")
    timed = []
    jvm_chain_medians = module.jvm_chain_medians

    def recorded(*args):
        timed.append(jvm_chain_medians(*args))
        return timed[-1]

    monkeypatch.setattr(module, "jvm_chain_medians", recorded)
    rows = module.main(["--smoke"])
    assert rows["tiny"]["stages"] == 2 and rows["tiny"]["blocks"] == 2
    # The JVM runner (its own process) timed both chains once in each of the 2 trials.
    (jvm,) = timed
    assert {name: len(medians) for name, medians in jvm.items()} == {"staged": 2,
                                                                     "monolithic": 2}


def test_bare_split_parts_chained_compute_the_plain_model():
    import keras

    import mexit_tf

    keras.utils.set_random_seed(0)
    backbone = mexit_tf.ViTBackbone((8, 8, 1), 2, 16, 3, 2, 32)
    plain = mexit_tf.MultiExitModel(backbone, exits={}, num_outputs=4)
    parts = _load("staged_overhead").bare_split(plain, {1: "mlp_ee", 2: "mlp_ee"})
    x = np.random.default_rng(0).uniform(0, 255, (1, 8, 8, 1)).astype("float32")
    hidden = x
    for part in parts:
        hidden = part(hidden)
    assert len(parts) == 3
    np.testing.assert_allclose(hidden, plain(x)["final"], rtol=1e-5, atol=1e-5)


def test_dynamic_inference_smoke(smoke_results):
    result = smoke_results("dynamic_inference")
    assert set(result["policies"]) == {"confidence", "entropy", "margin", "patience"}
    cumulative = [row["cumulative_ms"] for row in result["exits"].values()]
    for row in result["policies"].values():
        assert abs(sum(row["exit_histogram"]) - 1) < 1e-3  # shares rounded to 4 decimals
        # The policy's latency is what its exit mix costs at the measured stage times
        # (each input pays every stage up to its exit), computed apart from the policy.
        assert row["mean_latency_ms"] == pytest.approx(
            _cost_of_exit_mix(row["exit_histogram"], cumulative), rel=1e-3, abs=3e-4)


@pytest.mark.slow  # 67 s on 2 quiet cores: every mode exported, timed and recalibrated
def test_int8_quantization_smoke():
    result = _load("int8_quantization").main(["--smoke"])
    preset = result["cpu_preset"]
    modes = set(preset["modes"])
    assert {"float32", "float16", "int8 (QAT)", "int8 (PTQ)", "int8-static (QAT)",
            "int8-static (PTQ)", "LiteRT Quantizer dynamic_wi8_afp32"} <= modes
    for threads in ("1", "2"):
        assert modes <= set(preset["latency_ms"][threads])
        assert set(result["smoke"]["latency_ms"][threads]) == set(result["smoke"]["modes"])
    for described in (preset["modes"], result["smoke"]["modes"]):
        float32 = described["float32"]["stages"]
        assert all(stage["fully_delegated"] and stage["partitions"] == 1 for stage in float32)
        # The whole-int8 graph falls apart on XNNPACK (no int8 softmax): more partitions.
        for mode in ("int8-static (QAT)", "int8-static (PTQ)"):
            assert all(stage["partitions"] > plain["partitions"]
                       for stage, plain in zip(described[mode]["stages"], float32, strict=True))
    # The float32 bundle answers as the Keras model did (parity) on the same 48 test
    # images: at most one may flip on a near tie.
    for exit, keras_accuracy in preset["accuracy"]["keras float32"].items():
        assert abs(preset["accuracy"]["float32"][exit] - keras_accuracy) <= 1 / 48 + 1e-9
    assert set(preset["dynamic_inference"]) == set(preset["modes"])
    for name, row in preset["dynamic_inference"].items():
        cumulative = np.cumsum(preset["stage_ms"]["1"][name])
        assert row["mean_ms"] == pytest.approx(
            _cost_of_exit_mix(row["exit_histogram"], cumulative), rel=1e-3, abs=3e-4), name
    from mexit_tf.versions import library_versions, machine_description

    record = {**result, "command": "int8_quantization --smoke", "seed": 0,
              "versions": library_versions(), "machine": machine_description()}
    page = "\n".join(_load("report").int8_section(record))
    assert "## Quantization modes side by side" in page and "smoke toy" in page
    assert "| int8 (QAT) |" in page


STUDIES = ("exit_heads", "policy_study", "deployment", "dynamic_inference", "audio_exits",
           "counting_exits", "audio_visual_counting", "deadline_study")


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """`smoke_results(name)`: the study script run at smoke size (once, on first use),
    saved in `smoke_results.folder` as the report reads it. Each smoke test pays for its
    own study, so `--durations` shows which are slow."""
    from mexit_tf.versions import library_versions, machine_description

    folder = tmp_path_factory.mktemp("results")
    results = {}

    def run(name):
        if name not in results:
            results[name] = _load(name).main(["--smoke"])
            record = {"benchmark": name, **results[name], "command": f"{name} --smoke",
                      "seed": 0, "versions": library_versions(),
                      "machine": machine_description()}
            (folder / f"{name}.json").write_text(json.dumps(record))
        return results[name]

    run.folder = folder
    return run


def test_deadline_study_smoke(smoke_results):
    result = smoke_results("deadline_study")
    for key, accuracy in (("cpu_preset", True), ("ti16_224", False)):
        exits = len(result[key]["stage_ms_at_export"])
        for state in ("idle", "loaded"):
            table = result[key]["states"][state]
            assert [r["deadline_ms"] for r in table] == result[key]["deadlines_ms"]
            assert len(table) == 3
            for row in table:
                for kind in ("gated", "ungated"):
                    anytime = row["candidates"][f"{kind} {result['default_setting']}"]
                    assert ("accuracy" in anytime) == accuracy
                    assert ("accuracy_vs_best_static" in anytime) == accuracy
                    # exit indices count from 0 within the bundle's exits
                    assert 1 <= len(anytime["exit_histogram"]) <= exits
                    best = anytime.get("best_static")
                    assert best is None or best in row["candidates"]
                assert row["floor_miss_rate"] == anytime["floor_miss_rate"]
                assert "budget" in row["candidates"]
            # A static model's times are measured once: a later deadline cannot miss more.
            for name in (n for n in table[0]["candidates"] if n.startswith("truncated")):
                misses = [row["candidates"][name]["miss_rate"] for row in table]
                assert misses == sorted(misses, reverse=True), (key, state, name, misses)
    assert "truncated 4" in result["cpu_preset"]["states"]["idle"][0]["candidates"]


def test_deadline_sweep_times_each_call_and_drops_the_warmup(monkeypatch):
    module = _load("deadline_study")
    clock = _injected_clock(monkeypatch, module)

    def static(x):  # 1 ms, answers x % 2
        clock.spend(1.0)
        return int(x) % 2

    def anytime(x):  # x + 1 ms, answers 1, leaves at exit x % 3
        clock.spend(x + 1.0)
        return 1, int(x) % 3

    images, labels = np.arange(4), np.array([0, 1, 0, 0])
    rows = module.sweep({"static": (None, static), "anytime": (2.5, anytime)}, images, labels,
                        warmup=2)
    # The 2 warm-up calls (on images 2 and 3) are not recorded.
    np.testing.assert_allclose(rows["static"]["ms"], [1, 1, 1, 1])
    np.testing.assert_allclose(rows["anytime"]["ms"], [1, 2, 3, 4])
    assert rows["anytime"]["mean_ms"] == pytest.approx(2.5)
    assert rows["anytime"]["p99_ms"] == pytest.approx(3.97)
    assert rows["static"]["accuracy"] == 0.75 and rows["anytime"]["accuracy"] == 0.25
    assert rows["anytime"]["exit_histogram"] == [0.5, 0.25, 0.25]
    assert "exit_histogram" not in rows["static"]


def test_deadline_summary_counts_misses_per_deadline_and_finds_the_best_punctual_static():
    module = _load("deadline_study")
    label = module.DEFAULT_LABEL

    def row(ms, accuracy, exits=None):
        return {"ms": np.array(ms, float), "mean_ms": float(np.mean(ms)), "p99_ms": max(ms),
                "accuracy": accuracy, **({"exit_histogram": exits} if exits else {})}

    rows = {"truncated 1": row([0.5, 0.5, 1.5, 0.5], 0.6),
            "truncated 2": row([1.5] * 4, 0.9),
            "budget@1.0": row([0.9] * 4, 0.5), "budget@2.0": row([1.9] * 4, 0.8),
            f"floor {label}@1.0": row([0.8, 1.1, 0.8, 0.8], 0.4),
            f"floor {label}@2.0": row([0.8, 2.2, 0.8, 0.8], 0.4),
            f"gated {label}@1.0": row([0.8, 1.2, 0.9, 0.9], 0.7, [1.0]),
            f"gated {label}@2.0": row([1.5] * 4, 0.85, [0.5, 0.5]),
            f"ungated {label}@1.0": row([1.1, 1.2, 0.9, 0.9], 0.75, [1.0]),
            f"ungated {label}@2.0": row([1.5, 2.5, 2.5, 1.5], 0.95, [0.0, 1.0])}
    table = module.summarize(rows, [1.0, 2.0], [module.DEFAULT_SETTING], True)
    tight, loose = (entry["candidates"] for entry in table)
    assert [entry["floor_miss_rate"] for entry in table] == [0.25, 0.25]
    assert {name: c["miss_rate"] for name, c in tight.items()} == {
        f"gated {label}": 0.25, f"ungated {label}": 0.5, "budget": 0.0, "truncated 1": 0.25,
        "truncated 2": 1.0}
    assert {name: c["miss_rate"] for name, c in loose.items()} == {
        f"gated {label}": 0.0, f"ungated {label}": 0.5, "budget": 0.0, "truncated 1": 0.0,
        "truncated 2": 0.0}
    # Late no more often than gated@1 (0.25): truncated 1 (0.6) and budget (0.5).
    assert tight[f"gated {label}"]["best_static"] == "truncated 1"
    assert tight[f"gated {label}"]["accuracy_vs_best_static"] == pytest.approx(0.1)
    assert loose[f"gated {label}"]["best_static"] == "truncated 2"
    assert loose[f"gated {label}"]["accuracy_vs_best_static"] == pytest.approx(-0.05)
    assert loose[f"ungated {label}"]["accuracy_vs_best_static"] == pytest.approx(0.05)
    assert loose[f"gated {label}"]["exit_histogram"] == [0.5, 0.5]


def test_background_load_runs_and_ends():
    import time

    module = _load("_background_load")
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
    result = smoke_results("exit_heads")
    heads = result["heads"]
    assert set(heads) == {"mlp_ee", "vit_ee", "sl_vit"}
    for row in heads.values():
        assert set(row["accuracy"]) == {"end_to_end", "classifier_wise", "copycat"}
        assert all(set(regime) == {"1", "2", "3"} for regime in row["accuracy"].values())
        assert len(row["stage_ms"]) == 4
    # As built: an MLP on the class token < one narrow attention layer < a full encoder
    # block, in multiply-adds and in parameters.
    for cost in ("macs", "params"):
        assert heads["mlp_ee"][cost] < heads["sl_vit"][cost] < heads["vit_ee"][cost], cost
    assert result["claims"]["sl_vit_cheaper_than_vit_ee"] == {"macs": True, "params": True}
    assert result["claims"]["copycat_beats_classifier_wise"]["of"] == 3 * 3


def test_paper_claims_on_hand_made_figures():
    claims = _load("exit_heads").paper_claims

    def head(macs, params, **accuracy):  # accuracy: regime -> (block 1, block 2)
        return {"macs": macs, "params": params,
                "accuracy": {regime: dict(zip(("1", "2"), pair, strict=True))
                             for regime, pair in accuracy.items()}}

    rows = {"mlp_ee": head(10, 5, end_to_end=(0.5, 0.6), classifier_wise=(0.4, 0.5),
                           copycat=(0.45, 0.5)),
            "vit_ee": head(100, 50, end_to_end=(0.7, 0.8), classifier_wise=(0.6, 0.7),
                           copycat=(0.5, 0.6)),
            "sl_vit": head(40, 60, end_to_end=(0.6, 0.6), classifier_wise=(0.3, 0.6),
                           copycat=(0.5, 0.7))}
    got = claims(rows, (1, 2))
    # sl_vit vs the conventional heads (mlp_ee here): 0.6>0.5, 0.6=0.6 (a tie is no win),
    # 0.3<0.4, 0.6>0.5, 0.5>0.45, 0.7>0.5.
    assert got["sl_vit_beats_every_conventional_head"] == {"holds_in": 4, "of": 6}
    assert got["sl_vit_cheaper_than_vit_ee"] == {"macs": True, "params": False}
    # copycat - classifier-wise: +0.05, 0 (a tie is no win), -0.1, -0.1, +0.2, +0.1
    copycat = got["copycat_beats_classifier_wise"]
    assert (copycat["holds_in"], copycat["of"]) == (3, 6)
    assert copycat["mean_gain_points"] == pytest.approx(2.5)
    assert got["pareto_heads"]["end_to_end block 1"] == ["mlp_ee", "vit_ee", "sl_vit"]
    assert got["pareto_heads"]["classifier_wise block 1"] == ["mlp_ee", "vit_ee"]


def test_pareto_front_keeps_only_undominated_heads():
    pareto_front = _load("exit_heads").pareto_front
    rows = {name: {"accuracy": {"end_to_end": {"1": acc}}, "macs": macs}
            for name, acc, macs in (("cheap", 0.80, 10), ("better", 0.85, 50),
                                    ("dominated", 0.82, 60), ("best", 0.90, 500))}
    assert pareto_front(rows, "end_to_end", "1") == ["cheap", "better", "best"]


def test_policy_study_smoke(smoke_results):
    result = smoke_results("policy_study")
    assert set(result["bundles"]) == {"float32", "int8"}
    assert set(result["truncated"]) == {"1", "2", "3", "4"}
    for curves in result["bundles"].values():
        assert len(curves["static"]) == 4 and len(curves["stage_ms"]) == 4
        cumulative = [exit["ms"] for exit in curves["static"]]
        for points in curves["policies"].values():
            assert points, "every policy meets at least the loosest target"
            for point in points:
                assert abs(sum(point["exit_histogram"]) - 1) < 1e-3
                # Each input pays the stages up to its exit, at this run's stage times.
                assert point["mean_ms"] == pytest.approx(
                    _cost_of_exit_mix(point["exit_histogram"], cumulative), rel=1e-3,
                    abs=3e-4)


def test_versus_smaller_models_counts_points_beaten_by_a_faster_truncated_model():
    versus = _load("policy_study").versus_smaller_models
    bundles = {"float32": {"policies": {"confidence": [
        {"mean_ms": 1.0, "test_accuracy": 0.9},    # beats the 0.5 ms model (0.8)
        {"mean_ms": 0.6, "test_accuracy": 0.7}]}}}  # the 0.5 ms model is better
    baselines = {"1": {"ms": 0.5, "test_accuracy": 0.8}, "2": {"ms": 2.0, "test_accuracy": 0.95}}
    assert versus(bundles, baselines)["float32 confidence"] == {
        "points_beating_every_faster_smaller_model": 1, "of": 2}


def test_deployment_smoke(smoke_results):
    modes = smoke_results("deployment")["modes"]
    assert list(modes) == ["float32", "float16", "dynamic", "int8"]
    assert modes["int8"]["int8_from"] == "ptq"
    # float16 stores its weights in half the bytes; the others are no bigger than float32.
    assert modes["float16"]["bytes"] < modes["float32"]["bytes"]
    for row in modes.values():
        assert row["bytes"] <= modes["float32"]["bytes"]
        # Export converts, checks parity, times and calibrates: more than calibrating alone.
        assert row["calibration_seconds"] < row["export_seconds"]
        assert len(row["stage_ms_1_thread"]) == len(row["stage_ms_2_thread"]) == 3


def test_audio_exits_smoke(smoke_results):
    result = smoke_results("audio_exits")
    assert result["data"]["grid"] == [8, 5] and result["data"]["clips"]["real"] == 10
    for split in ("validation", "test", "real"):
        assert set(result["accuracy"][split]) == {"end_to_end", "plain", "copycat"}
        # plain and copycat share the backbone and final exit; only the early exits differ
        shared = result["accuracy"][split]
        assert shared["plain"]["final"] == shared["copycat"]["final"]
    for split, report in result["cascade"].items():
        assert abs(sum(report["exit_histogram"].values()) - 1) < 1e-3
        # The bundle (stage 0 computes the spectrogram) answers each exit as the Keras
        # model did on the same clips: at most one of the 10 may flip on a near tie.
        keras_accuracy = result["accuracy"][split]["end_to_end"]
        assert report["exit_accuracy"].keys() == keras_accuracy.keys()
        for exit, accuracy in report["exit_accuracy"].items():
            assert abs(accuracy - keras_accuracy[exit]) <= 0.1 + 1e-9, (split, exit)


def test_counting_exits_smoke(smoke_results):
    result = smoke_results("counting_exits")
    assert "SYNTHETIC" in result["data"] and result["policy"]["type"] == "agreement"
    for split in ("validation", "test"):
        assert set(result["mae"][split]) == {"end_to_end", "plain", "copycat"}
        shared = result["mae"][split]  # one backbone and final exit under both
        assert shared["plain"]["final"] == shared["copycat"]["final"]
    # The float32 bundle's per-exit MAE on the test canvases is the Keras model's.
    keras_mae = result["mae"]["test"]["end_to_end"]
    bundle_mae = result["cascade_test"]["exit_mae"]
    assert bundle_mae.keys() == keras_mae.keys()
    for exit, mae in bundle_mae.items():
        assert mae == pytest.approx(keras_mae[exit], rel=1e-3, abs=3e-4), exit


def test_audio_visual_counting_smoke(smoke_results):
    result = smoke_results("audio_visual_counting")
    assert "SYNTHETIC" in result["data"]
    names = set(result["mae"]["test"]["end_to_end"])
    assert names == {"exit_1", "exit_1_av", "final"}
    bundles = result["bundles"]
    assert bundles["visual_exits"]["audio_branch_stage"] == "final"
    assert bundles["audio_visual_exits"]["audio_branch_stage"] == "exit_1_av"
    assert bundles["both"]["audio_branch_stage"] == "exit_1_av"
    # Every input of the audio-first bundle pays for the audio branch; elsewhere only
    # those that go past the visual exits before the audio branch's stage.
    assert bundles["audio_visual_exits"]["paid_for_audio"] == 1.0
    assert bundles["visual_exits"]["paid_for_audio"] == pytest.approx(
        bundles["visual_exits"]["exit_histogram"]["final"], abs=1e-4)
    assert bundles["both"]["paid_for_audio"] == pytest.approx(
        1 - bundles["both"]["exit_histogram"]["exit_1"], abs=1e-4)


def test_report_renders_every_section_and_plot(smoke_results, tmp_path):
    for name in STUDIES:
        smoke_results(name)
    _load("report").main(["--results", str(smoke_results.folder), "--docs", str(tmp_path)])
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


def test_deadline_section_of_a_fashion_mnist_c_run_says_ti16_was_not_rerun(smoke_results,
                                                                             tmp_path):
    from mexit_tf.versions import library_versions, machine_description

    record = {**smoke_results("deadline_study"), "dataset": "fashion_mnist_c", "ti16_224": None,
              "command": "deadline_study --smoke", "seed": 0, "versions": library_versions(),
              "machine": machine_description()}
    page = "\n".join(_load("report").deadline_section(record))
    assert "## Deadlines on Fashion-MNIST-C: the anytime bundle" in page
    assert "(deadline_study_fashion_mnist_c.png)" in page
    assert "### ViT-Ti/16 224x224\n\nNot rerun" in page and "### CPU preset" in page
    _load("_plots").plot_deadline_study(record, tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_benchmarks_page_is_what_the_report_makes_of_the_saved_results(tmp_path):
    _load("report").main(["--docs", str(tmp_path)])
    page = (tmp_path / "benchmarks.md").read_text()
    assert page == (BENCHMARKS.parent / "docs" / "benchmarks.md").read_text(), (
        "docs/benchmarks.md is out of date: run python benchmarks/report.py")
    for plot in ("exit_heads.png", "policy_study.png", "dynamic_inference_float32.png",
                 "deadline_study.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCHMARKS.glob("[a-z]*.py")))
def test_every_benchmark_script_is_covered(script):
    assert script in {"training_overhead", "staged_overhead", "dynamic_inference",
                      "int8_quantization", "deployment", "exit_heads", "policy_study",
                      "audio_exits", "counting_exits", "audio_visual_counting", "deadline_study",
                      "report",
                      # smoke-tested beside their features:
                      "pretrained_finetune",  # tests/test_pretrained_benchmark.py
                      "throughput",  # tests/test_batched_cascade.py
                      "corruption_depth",  # tests/test_fashion_mnist_c.py
                      "exit_placement"}  # tests/test_exit_placement.py


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


def test_interleaved_medians_time_every_candidate_in_a_shuffled_order(monkeypatch):
    from mexit_tf.runtime import interleaved_timing as common

    clock = _injected_clock(monkeypatch, common)
    order = []
    # "c" alternates 2 ms and 100 ms; after its warm-up call (2 ms), 16 of its 31 timed
    # runs take 100 ms.
    costs = {"a": iter([1.0] * 40), "b": iter([3.0] * 40), "c": iter([2.0, 100.0] * 20)}

    def candidate(name):
        def call():
            order.append(name)
            clock.spend(next(costs[name]))
        return call

    medians = common.interleaved_medians({name: candidate(name) for name in "abc"}, runs=31,
                                         warmup=1)
    # Timing the warm-up too would give "c" a median of 51 ms; a mean would give ~53.
    assert medians == {"a": pytest.approx(1.0), "b": pytest.approx(3.0),
                       "c": pytest.approx(100.0)}
    rounds = [tuple(order[i:i + 3]) for i in range(3, len(order), 3)]
    assert len(rounds) == 31 and all(sorted(r) == ["a", "b", "c"] for r in rounds)
    assert len(set(rounds)) > 1, "the order must change between rounds"
