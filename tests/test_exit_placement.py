"""Bundles with some exits left out (`--exits`, `--exits-from-policy`), and the rule."""

import json

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

    result = load("exit_placement").main(["--smoke"])
    names = [row["exit"] for row in result["exits"]]
    assert names == result["placement"]["full_exits"] == ["exit_1", "exit_2", "exit_3", "final"]
    assert sum(row["test_share"] for row in result["exits"]) == pytest.approx(1.0, abs=1e-3)
    assert len(result["deadlines"]) == 3
    for row in result["targets"] + result["deadlines"]:
        for bundle in ("full", "pruned"):
            assert row[bundle]["mean_ms"] > 0 and 0 <= row[bundle]["accuracy"] <= 1
    load("_plot_exit_placement").plot_exit_placement(result, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 10_000
    from mexit_tf.versions import library_versions, machine_description

    record = {**result, "command": "exit_placement --smoke", "seed": 0,
              "versions": library_versions(), "machine": machine_description()}
    page = "\n".join(load("_report_exit_placement").exit_placement_section(record))
    assert "## Exit placement by measurement" in page and "| exit_1 |" in page
