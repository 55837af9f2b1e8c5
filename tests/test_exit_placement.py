"""Bundles with some exits left out (`--exits`, `--exits-from-policy`), and the rule."""

import json
import types

import keras
import numpy as np
import pytest
from conftest import run_mexit, tiny_backbone, tiny_images
from PIL import Image

import mexit_tf
from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_selection import merged_stage_costs, select_exits
from mexit_tf.models.exit_subset import keep_exits, parse_exit_list

SHAPE = (8, 8, 3)


@pytest.fixture(scope="module")
def model():
    """Exits after blocks 1-3 of 4; exit 2's head is zeroed, so it answers 1/3 for every
    class of every input: no calibrated policy can send an example out there. (Seed 2:
    an untrained model whose final exit answers all three classes, see `labelled`.)"""
    keras.utils.set_random_seed(2)
    model = mexit_tf.MultiExitModel(tiny_backbone(4, image_shape=SHAPE),
                                    exits={1: "mlp_ee", 2: "mlp_ee", 3: "mlp_ee"}, num_outputs=3)
    head = model.exit_heads[1]
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    return model


@pytest.fixture(scope="module")
def labelled(model):
    """Images labelled by the model's own final exit, 8 per class: the final exit is
    right on all of them, so exiting at the zeroed exit 2 could only lose accuracy."""
    x = tiny_images(400, seed=7, shape=SHAPE)
    predicted = model.predict(x, verbose=0)["final"].argmax(-1)
    rows = np.concatenate([np.flatnonzero(predicted == c)[:8] for c in range(3)])
    assert len(rows) == 24, np.bincount(predicted, minlength=3)
    return x[rows], predicted[rows]


@pytest.fixture(scope="module")
def bundles(model, labelled, tmp_path_factory):
    from mexit_tf.converters import export_bundle

    folder = tmp_path_factory.mktemp("placement")
    for name, kept in (("full", model.exit_names), ("pruned", ["exit_1", "exit_3"])):
        export_bundle(keep_exits(model, kept), folder / name, labelled, latency_runs=3,
                      progress=False)
    return folder


def test_pruned_bundle_merges_stages_and_answers_as_the_full_one(bundles, labelled):
    from mexit_tf.runtime.cascade import Cascade

    with Cascade(bundles / "full") as full, Cascade(bundles / "pruned") as pruned:
        assert full.exit_names == ["exit_1", "exit_2", "exit_3", "final"]
        assert pruned.exit_names == ["exit_1", "exit_3", "final"]
        # exit 2's block runs in exit 3's stage
        assert [s["after_block"] for s in pruned.manifest["stages"]] == [1, 3, 4]
        want, _ = full.run_all(labelled[0][:6], progress=False)
        got, _ = pruned.run_all(labelled[0][:6], progress=False)
    for mine, theirs in ((got[0], want[0]), (got[1], want[2]), (got[2], want[3])):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)


def test_keep_exits_names_what_it_does_not_know(model):
    with pytest.raises(MexitError, match=r"Unknown exit\(s\) 'exit_9'.*exit_1, exit_2"):
        keep_exits(model, ["exit_9"])
    assert parse_exit_list(" exit_3,exit_1 ", model) == ["exit_1", "exit_3", "final"]
    with pytest.raises(MexitError, match="comma"):
        parse_exit_list(",", model)


def test_merged_stage_costs_take_the_heads_of_dropped_exits_off():
    stage_ms, head_ms = [3.0, 2.0, 2.0, 4.0], [1.0, 0.5, 0.25]
    assert merged_stage_costs(stage_ms, head_ms, [0, 1, 2, 3]) == stage_ms
    # exit 1 (index 0) and exit 3 (index 2) dropped: their heads and boundaries go
    assert merged_stage_costs(stage_ms, head_ms, [1, 3]) == [4.0, 5.75]


def test_select_exits_keeps_an_exit_that_pays_and_drops_one_that_costs():
    """Exit 0 answers half the examples right and sure; exit 1 is never sure. With exit 0
    saving 9 ms for half the examples and exit 1 costing 1 ms each, the rule keeps 0."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    sure = np.eye(3)[labels] * 20
    unsure = np.zeros((400, 3))
    early = np.where((np.arange(400) < 200)[:, None], sure, unsure)
    outputs, costs = [early, unsure, sure], ([1.0, 5.0, 5.0], [0.5, 1.0])
    kept, record = select_exits(outputs, labels, *costs, "confidence", target_loss=0.0,
                                sigmas=0.0, keep_first=False)
    assert kept == [0, 2]
    # by default the first exit is no candidate at all: it is the deadline floor
    assert select_exits(outputs, labels, *costs, "confidence", target_loss=0.0,
                        sigmas=0.0)[1]["rounds"][0][0]["exit_index"] == 1
    (first, *_) = record["rounds"]
    by_index = {c["exit_index"]: c for c in first}
    assert by_index[1]["share"] == 0.0 and by_index[1]["dropped"]
    assert by_index[0]["share"] == 0.5 and not by_index[0]["dropped"]
    # exit 1 cost 1 ms for every example that reached it (the half exit 0 did not take)
    assert record["full"]["mean_ms"] - record["pruned"]["mean_ms"] == pytest.approx(0.5)


def test_a_bundle_of_the_final_exit_alone_calibrates():
    """Every early exit dropped: the policy has no threshold to choose, and says so."""
    from mexit_tf.gating import calibrate_policy

    labels = np.arange(6) % 3
    policy, report = calibrate_policy("confidence", [np.eye(3)[labels]], labels, [2.0])
    assert policy.to_dict() == {"type": "confidence", "thresholds": []}
    assert report["exit_histogram"] == [1.0] and report["expected_mean_cost"] == 2.0


@pytest.fixture(scope="module")
def cli_inputs(model, labelled, tmp_path_factory):
    """The model saved, and its labelled images as a folder of train/validation/test."""
    folder = tmp_path_factory.mktemp("cli")
    model.save(folder / "model.keras")
    x, y = labelled
    for split in ("train", "validation", "test"):
        for row, (image, label) in enumerate(zip(x, y, strict=True)):
            path = folder / "images" / split / "abc"[label]
            path.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path / f"{row}.png")
    return folder


def test_exits_from_policy_drops_the_exit_no_example_uses(cli_inputs, tmp_path):
    result = run_mexit("export", cli_inputs / "model.keras", "--out", tmp_path / "b",
                       "--data", f"folder:{cli_inputs / 'images'}", "--exits-from-policy",
                       "--target-loss", "0", "--sigmas", "0")
    assert result.returncode == 0, result.stderr
    assert "dropped exit_2 (after block 2): share 0.000" in result.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    placement = manifest["exit_placement"]
    # the first exit stays (the deadline floor), the unused exit 2 goes
    assert placement["chosen_by"] == "policy" and placement["kept"][0] == "exit_1"
    assert "exit_2" not in placement["kept"]
    assert [s["exit"] for s in manifest["stages"]] == placement["kept"]
    dropped = {d["exit"]: d for d in placement["dropped"]}
    assert dropped["exit_2"]["share"] == 0.0 and dropped["exit_2"]["after_block"] == 2
    assert len(placement["measured"]["head_ms"]) == 3


def test_bad_exits_is_a_one_line_error(cli_inputs, tmp_path):
    result = run_mexit("export", cli_inputs / "model.keras", "--out", tmp_path / "b",
                       "--exits", "exit_2,exit_7")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Unknown exit(s) 'exit_7' in --exits" in result.stderr
    assert not (tmp_path / "b").exists()


def test_exit_placement_benchmark_smoke(tmp_path):
    from conftest import load_benchmark as load

    result = load("exit_placement").main(["--smoke", "--head", "cnn_ignore",
                                          "--untrained-exits", "2"])
    assert result["head"] == "cnn_ignore" and result["untrained_exits"] == [2]
    names = [row["exit"] for row in result["exits"]]
    assert names == result["placement"]["full_exits"] == ["exit_1", "exit_2", "exit_3", "final"]
    assert sum(row["test_share"] for row in result["exits"]) == pytest.approx(1.0, abs=1e-3)
    assert len(result["deadlines"]) == 3
    for row in result["targets"] + result["deadlines"]:
        for bundle in ("full", "pruned", "full again"):
            assert row[bundle]["mean_ms"] > 0 and 0 <= row[bundle]["accuracy"] <= 1
        # The A/A control runs the full bundle: the same answers, only the timing differs.
        assert row["full again"]["accuracy"] == row["full"]["accuracy"]
    # Each comparison: pruned and the A/A arm against full, paired by load, with intervals.
    for row in result["targets"] + result["deadlines"]:
        for arm in ("pruned", "full again"):
            change = row[f"{arm} vs full"]["mean_ms_change"]
            assert change["half_width"] > 0
            assert change["mean"] == pytest.approx(
                row[arm]["mean_ms"] / row["full"]["mean_ms"] - 1, abs=0.5)
    for row in result["deadlines"]:
        assert -1 <= row["pruned vs full"]["late_share_change"]["mean"] <= 1
    assert result["interval"]["loads"] == 2 and result["interval"]["t_quantile"] > 12.7
    assert isinstance(result["verdict"]["aa_finds_no_difference"], bool)
    load("_plot_exit_placement").plot_exit_placement(result, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000
    from mexit_tf.versions import library_versions, machine_description

    record = {**result, "command": "exit_placement --smoke", "seed": 0,
              "versions": library_versions(), "machine": machine_description()}
    page = "\n".join(load("_report_exit_placement").exit_placement_section(record))
    assert "## Exit placement by measurement" in page and "| exit_1 |" in page
    assert "A/A: full again vs full" in page and "The A/A control finds no difference" in page
    assert "`cnn_ignore` exits, positive control: exits 2 untrained)" in page
    assert "(exit_placement_cnn_ignore_untrained_2.png)" in page
    assert "Expected from the measured costs" in page


def test_placement_candidates_average_loads_made_round_by_round_in_shuffled_order(
        monkeypatch):
    """Each load of a bundle has a speed of its own, so each arm of a comparison (full,
    pruned, full again) is several loads taking the examples in turn, made round by round
    beside the other arms' loads, no arm always first."""
    from conftest import load_benchmark as load

    module = load("exit_placement")
    made = []

    class Recorder:
        def __init__(self, bundle, policy=None):
            self.bundle, self.policy, self.answered = bundle, policy, 0
            made.append(self)

        def predict(self, x, deadline_ms=None):
            self.answered += 1
            return types.SimpleNamespace(output=np.array([0.0, 1.0]), exit_index=0)

    monkeypatch.setattr(module, "Cascade", Recorder)
    policies = {name: {t: f"{name} policy {t}" for t in module.TARGETS}
                for name in ("full", "pruned")}
    calls = module._candidates({"full": "F", "pruned": "P"}, policies, [0.3, 0.6, 0.9],
                               loads=2)
    comparisons = len(module.TARGETS) + 3
    assert len(calls) == 3 * comparisons and len(made) == 2 * 3 * comparisons
    firsts = set()
    for start in range(0, len(made), 3):  # one round: the three arms of one comparison
        round_ = made[start:start + 3]
        assert sorted(c.bundle for c in round_) == ["F", "F", "P"]
        assert len({str(c.policy).split(" policy ")[1] for c in round_}) == 1
        firsts.add(round_[0].bundle)
    assert firsts == {"F", "P"}  # shuffled: not always the same arm first
    for arm in ("pruned", "full again"):
        for _ in range(2):
            calls[f"{arm} target 0.5"][1](np.zeros(3))
    # (0.5 is the export target: the deadline comparisons load the same policies too)
    pruned = [c.answered for c in made if c.policy == "pruned policy 0.5"]
    assert sum(pruned) == 2 and max(pruned) == 1  # the examples in turn, two loads
    # The A/A arm: loads of the full bundle with its policy.
    full = [c.answered for c in made if c.policy == "full policy 0.5"]
    assert sum(full) == 2 and max(full) == 1


def test_placement_verdict_reads_paired_load_intervals():
    """Pruned 10% quicker on every load is faster; the A/A arm, the same speed up to noise,
    finds no difference; a pruned arm slower on every load is slower."""
    from conftest import load_benchmark as load

    module = load("exit_placement")
    loads, per_load = 4, 50
    groups = np.arange(loads * per_load) % loads
    noise = np.random.default_rng(0).normal(0, 0.01, loads * per_load)
    full = 1.0 + 0.02 * groups  # each load a speed of its own, the same in every arm
    rows = {"full target 0.5": {"ms": full}, "pruned target 0.5": {"ms": 0.9 * full},
            "full again target 0.5": {"ms": full + noise}}
    names = {arm: f"{arm} target 0.5" for arm in module.ARMS}
    changes = module._changes(rows, names, groups, quantile=3.0)
    pruned, again = changes["pruned vs full"]["mean_ms_change"], \
        changes["full again vs full"]["mean_ms_change"]
    assert pruned["mean"] == pytest.approx(-0.1, abs=1e-6) and pruned["half_width"] < 1e-6
    assert abs(again["mean"]) <= again["half_width"]
    result = {"placement": {"dropped": [{"exit": "exit_5"}]}, "deadlines": [],
              "targets": [{"target_points": 0.5, **changes}]}
    verdict = module.verdict(result)
    assert verdict["faster_at_every_target"] and verdict["aa_finds_no_difference"]
    assert verdict["no_slower_at_every_target_and_deadline"]
    rows["pruned target 0.5"] = {"ms": 1.05 * full}
    slower = module._changes(rows, names, groups, quantile=3.0)
    verdict = module.verdict({**result, "targets": [{"target_points": 0.5, **slower}]})
    assert not verdict["no_slower_at_every_target_and_deadline"]
    assert not verdict["faster_at_every_target"]


def test_without_exit_takes_that_exits_threshold_out():
    from mexit_tf.gating import ConfidencePolicy, PatiencePolicy
    from mexit_tf.gating.agreement_policy import AgreementPolicy
    from mexit_tf.gating.exit_selection import without_exit

    moved = without_exit(ConfidencePolicy([0.9, 0.8, 0.7]), 1)
    assert type(moved) is ConfidencePolicy and moved.thresholds == [0.9, 0.7]
    # agreement's thresholds start at the second exit
    assert without_exit(AgreementPolicy([0.5, 0.4, 0.3]), 2).thresholds == [0.5, 0.3]
    assert without_exit(PatiencePolicy(2, 4), 1) is None
    assert without_exit(ConfidencePolicy([0.9, 0.8]), 2) is None  # the final exit: none


def test_exits_dropped_for_one_target_are_no_slower_at_every_target_offered():
    """With `also_targets`, the exits kept cost no more than all exits at the target and at
    each other target (validation, expected), and no exit is dropped that the target
    alone would have kept."""
    from test_gating import _saturating_exits

    from mexit_tf.gating import calibrate_policy

    outputs, labels = _saturating_exits()
    stage_ms = [0.25683, 0.23652, 0.23935, 0.23526, 0.23359, 0.22754]
    head_ms = [0.02677, 0.01974, 0.01904, 0.02064, 0.03069]
    offered = (0.001, 0.0025, 0.01, 0.02, 0.05)
    alone, _ = select_exits(outputs, labels, stage_ms, head_ms, "confidence", 0.005)
    kept, record = select_exits(outputs, labels, stage_ms, head_ms, "confidence", 0.005,
                                also_targets=offered)
    assert set(alone) <= set(kept) and len(kept) < 6
    assert record["other_targets"] == list(offered)
    for target in (0.005, *offered):
        full = calibrate_policy("confidence", outputs, labels, stage_ms, target_loss=target)[1]
        pruned = calibrate_policy("confidence", [outputs[k] for k in kept], labels,
                                  merged_stage_costs(stage_ms, head_ms, kept),
                                  target_loss=target)[1]
        assert pruned["expected_mean_cost"] <= full["expected_mean_cost"] + 1e-9, target


def test_untrained_heads_replace_only_the_exits_named(model):
    """The positive control's model: the named exits answer from fresh heads, every other
    exit as the trained model does (the same layers)."""
    from conftest import load_benchmark as load

    placement = load("exit_placement")
    later = model.exit_blocks[1]
    control = placement.with_untrained_heads(model, (later,), "mlp_ee")
    assert control.exit_names == model.exit_names and control.backbone is model.backbone
    x = tiny_images(4, shape=SHAPE)
    trained, fresh = model.predict(x, verbose=0), control.predict(x, verbose=0)
    for name, block in zip(model.exit_names, model.exit_blocks + [None], strict=True):
        same = np.allclose(trained[name], fresh[name])
        assert same == (block != later), name
    with pytest.raises(mexit_tf.MexitError, match=r"early exits after the first .*\[1\]"):
        placement.with_untrained_heads(model, (model.exit_blocks[0],), "mlp_ee")
