import math
from pathlib import Path

import numpy as np
import pytest

import mexit_tf
from mexit_tf.gating import (
    BudgetPolicy,
    ConfidencePolicy,
    EntropyPolicy,
    ExitPolicy,
    MarginPolicy,
    PatiencePolicy,
    calibrate_policy,
    policy_outcome,
    softmax,
)


def _logits_for(probabilities):
    return np.log(np.asarray(probabilities, dtype=np.float64))


# Three exits, four inputs; probabilities chosen so each policy's answer is known by hand.
EXIT_1 = _logits_for([[0.95, 0.03, 0.02], [0.50, 0.40, 0.10], [0.40, 0.35, 0.25],
                      [0.34, 0.33, 0.33]])
EXIT_2 = _logits_for([[0.90, 0.05, 0.05], [0.85, 0.10, 0.05], [0.10, 0.60, 0.30],
                      [0.33, 0.34, 0.33]])
FINAL = _logits_for([[0.90, 0.05, 0.05], [0.80, 0.10, 0.10], [0.10, 0.80, 0.10],
                     [0.10, 0.10, 0.80]])
OUTPUTS = [EXIT_1, EXIT_2, FINAL]


@pytest.mark.parametrize("policy, expected", [
    (ConfidencePolicy([0.9, 0.8]), [0, 1, 2, 2]),
    (ConfidencePolicy([0.0, 0.0]), [0, 0, 0, 0]),
    (ConfidencePolicy([1.0, 1.0]), [2, 2, 2, 2]),
    (MarginPolicy([0.5, 0.35]), [0, 1, 2, 2]),
    (EntropyPolicy([0.3, 0.6]), [0, 1, 2, 2]),
    (PatiencePolicy(2, 3), [1, 1, 2, 2]),
    (PatiencePolicy(1, 3), [0, 0, 0, 0]),
    (BudgetPolicy(2.5, [1.0, 1.0, 1.0]), [1, 1, 1, 1]),
    (BudgetPolicy(0.1, [1.0, 1.0, 1.0]), [0, 0, 0, 0]),
])
def test_policy_semantics_on_a_logit_fixture(policy, expected):
    assert policy.select_exits(OUTPUTS).tolist() == expected
    # The step-by-step runtime path agrees with the vectorised one.
    for row, want in enumerate(expected):
        seen = []
        for output in OUTPUTS:
            seen.append(output[row:row + 1])
            if policy.should_stop(seen):
                break
        assert len(seen) - 1 == want
    clone = ExitPolicy.from_dict(policy.to_dict())
    assert clone.select_exits(OUTPUTS).tolist() == expected


@pytest.mark.parametrize("data, message", [
    ({"type": "confidence", "thresholds": [0.5, math.nan]}, "received nan"),
    ({"type": "confidence", "thresholds": [0.5, 1.5]}, r"in \[0.0, 1.0\]"),
    ({"type": "confidence", "thresholds": "high"}, "must be a list"),
    ({"type": "entropy", "thresholds": [-1.0]}, "received -1.0"),
    ({"type": "patience", "patience": 0, "num_exits": 3}, "patience must be"),
    ({"type": "budget", "budget": -1, "stage_costs": [1, 1]}, "budget must be"),
    ({"type": "oracle"}, "Unknown policy type 'oracle'"),
])
def test_malformed_policies_are_refused(data, message):
    with pytest.raises(mexit_tf.MexitError, match=message):
        ExitPolicy.from_dict(data)


def test_softmax_is_stable_for_large_logits():
    np.testing.assert_allclose(softmax(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])


def _synthetic_exits(count=2000, seed=0):
    """Exits that get more accurate with depth; confidence tracks correctness."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    outputs = []
    for skill in (1.0, 2.0, 3.0, 4.0):
        logits = rng.normal(0, 1, (count, 10))
        logits[np.arange(count), labels] += skill
        outputs.append(logits)
    return outputs, labels


def test_calibration_meets_its_target_and_saves_cost():
    outputs, labels = _synthetic_exits()
    costs = [1.0, 1.0, 1.0, 1.0]
    final_accuracy = float(np.mean(outputs[-1].argmax(-1) == labels))
    for kind in ("confidence", "entropy", "margin", "patience"):
        policy, report = calibrate_policy(kind, outputs, labels, costs, target_loss=0.01)
        assert report["final_exit_accuracy"] == pytest.approx(final_accuracy)
        assert report["expected_accuracy"] >= final_accuracy - 0.01 - 1e-9, kind
        assert policy.num_exits == 4
        # The report describes the policy returned: applying it (as saved) gives its figures.
        outcome = policy_outcome(ExitPolicy.from_dict(report["policy"]), outputs, labels, costs)
        assert outcome["accuracy"] == pytest.approx(report["expected_accuracy"], abs=1e-5), kind
        assert outcome["mean_cost"] == pytest.approx(report["expected_mean_cost"], abs=1e-5)
        # A looser target admits every policy a tighter one did: never dearer, and at
        # 20 points far cheaper than running all 4 stages.
        mean_costs = [calibrate_policy(kind, outputs, labels, costs, target_loss=target)[1][
            "expected_mean_cost"] for target in (0.0, 0.01, 0.05, 0.2)]
        assert mean_costs == sorted(mean_costs, reverse=True), (kind, mean_costs)
        assert mean_costs[-1] < 0.85 * 4.0, (kind, mean_costs)
    policy, report = calibrate_policy("confidence", outputs, labels, costs, target_loss=0.05)
    assert report["expected_speedup"] > 1.2


def test_calibration_keeps_a_margin_for_the_uncertainty_of_its_estimate():
    outputs, labels = _synthetic_exits()
    costs = [1.0, 1.0, 1.0, 1.0]
    exact, exact_report = calibrate_policy("confidence", outputs, labels, costs,
                                           target_loss=0.02, sigmas=0.0)
    safe, safe_report = calibrate_policy("confidence", outputs, labels, costs,
                                         target_loss=0.02, sigmas=2.0)
    assert safe_report["expected_loss_upper_bound"] <= 0.02 + 1e-9
    # The margin costs speed and buys accuracy: the safe policy sends more images deeper.
    assert safe_report["expected_mean_cost"] > exact_report["expected_mean_cost"]
    assert safe_report["expected_accuracy"] > exact_report["expected_accuracy"]


def test_loss_upper_bound_adds_standard_errors_of_the_paired_difference():
    from mexit_tf.gating.calibration import loss_upper_bound

    final_errors = np.array([0, 0, 0, 0, 1, 1, 0, 0], float)
    policy_errors = np.array([0, 1, 0, 0, 1, 0, 1, 0], float)
    differences = policy_errors - final_errors  # 0, 1, 0, 0, 0, -1, 1, 0
    expected = differences.mean() + 1.5 * differences.std(ddof=1) / np.sqrt(8)
    assert loss_upper_bound(policy_errors, final_errors, 1.5) == pytest.approx(expected)
    # Agreeing everywhere: no uncertainty.
    assert loss_upper_bound(final_errors, final_errors, 3.0) == 0.0


def test_calibration_for_a_latency_budget():
    outputs, labels = _synthetic_exits()
    policy, report = calibrate_policy("confidence", outputs, labels, [1.0] * 4, budget=2.0,
                                      target_loss=None)
    assert report["expected_mean_cost"] <= 2.0
    policy, report = calibrate_policy("budget", outputs, labels, [1.0] * 4, budget=2.5,
                                      target_loss=None)
    assert policy.deepest == 1


@pytest.mark.parametrize("kind", ["confidence", "entropy", "margin"])
def test_threshold_outcomes_equal_policy_outcome(kind):
    """The calibration's precomputed outcome gives what the policy itself decides."""
    from mexit_tf.gating.calibration import threshold_outcomes
    from mexit_tf.gating.exit_policy import POLICY_TYPES

    outputs, labels = _synthetic_exits(count=500)
    policy_class, costs = POLICY_TYPES[kind], [1.0, 2.0, 4.0, 8.0]
    quick = threshold_outcomes(policy_class, outputs, labels, costs)
    low, high = policy_class.score_range
    high = 3.0 if math.isinf(high) else high
    rng = np.random.default_rng(1)
    for thresholds in [[low] * 3, [high] * 3, *rng.uniform(low, high, (20, 3)).tolist()]:
        policy = policy_class(thresholds)
        expected = policy_outcome(policy, outputs, labels, costs)
        got = quick(policy)
        np.testing.assert_array_equal(got["exits"], expected["exits"])
        assert got["exit_histogram"] == expected["exit_histogram"]
        assert got["accuracy"] == expected["accuracy"]
        assert got["mean_cost"] == expected["mean_cost"]


def _saturating_exits():
    """Logits with the confidences and right/wrong answers a real model's six exits gave
    on Fashion-MNIST validation (XS/4, an exit after every block, exits 2-6 within 0.5
    points: tests/data/saturating_exits_confidence.npz). The confidence policy sees them
    as it saw the model's own."""
    data = np.load(Path(__file__).parent / "data" / "saturating_exits_confidence.npz")
    confidence = np.clip(data["confidence"].astype(np.float64), 0.1001, 1 - 1e-6)
    labels = np.arange(confidence.shape[1]) % 10
    outputs = []
    for scores, right in zip(confidence, data["right"], strict=True):
        top = np.where(right, labels, (labels + 1) % 10)
        logits = np.repeat(np.log((1 - scores) / 9)[:, None], 10, axis=1)
        logits[np.arange(len(top)), top] = np.log(scores)
        outputs.append(logits)
    return outputs, labels


def test_calibration_is_no_costlier_than_a_start_that_meets_the_target():
    """A bundle without exit 5, given the full bundle's policy moved onto it as a start
    where that policy never used exit 5 (then it answers the same, so it meets the target
    too), calibrates no costlier than it. The search alone is local and need not."""
    from mexit_tf.gating.exit_selection import merged_stage_costs

    outputs, labels = _saturating_exits()
    stage_ms = [0.25683, 0.23652, 0.23935, 0.23526, 0.23359, 0.22754]  # measured
    head_ms = [0.02677, 0.01974, 0.01904, 0.02064, 0.03069]
    kept = [0, 1, 2, 3, 5]
    pruned, pruned_ms = [outputs[k] for k in kept], merged_stage_costs(stage_ms, head_ms, kept)
    checked = 0
    for target in (0.0025, 0.005, 0.01, 0.02):
        full_policy, _ = calibrate_policy("confidence", outputs, labels, stage_ms,
                                          target_loss=target)
        if (full_policy.select_exits(outputs) == 4).any():
            continue  # it uses exit 5: moved, it would answer differently
        moved = ConfidencePolicy(full_policy.thresholds[:4])
        inherited = policy_outcome(moved, pruned, labels, pruned_ms)
        _, report = calibrate_policy("confidence", pruned, labels, pruned_ms,
                                     target_loss=target, starts=(moved,))
        assert report["expected_mean_cost"] <= inherited["mean_cost"] + 1e-9, target
        checked += 1
    assert checked >= 2
    with pytest.raises(mexit_tf.MexitError, match="start for a confidence policy of 4 thr"):
        calibrate_policy("confidence", pruned, labels, pruned_ms, starts=(full_policy,))
    with pytest.raises(mexit_tf.MexitError, match="start for a patience policy must be one"):
        calibrate_policy("patience", pruned, labels, pruned_ms, starts=(moved,))


def test_calibration_is_no_costlier_than_any_policy_with_a_deepest_exit():
    """Every "deepest exit" policy (one shared threshold before it, every input answered
    there at the latest) that meets the target is a candidate: the result costs no more
    than the cheapest of them. On these real confidences, refining one shared threshold
    alone found costlier policies."""
    from mexit_tf.gating.calibration import _threshold_grid, example_errors, loss_upper_bound

    outputs, labels = _saturating_exits()
    costs = [0.25683, 0.23652, 0.23935, 0.23526, 0.23359, 0.22754]
    final_errors = example_errors(outputs[-1], labels)
    grid = _threshold_grid(ConfidencePolicy, outputs)
    for target in (0.0025, 0.005, 0.01, 0.02):
        _, report = calibrate_policy("confidence", outputs, labels, costs, target_loss=target)
        cheapest = min(
            outcome["mean_cost"] for deepest in range(5) for value in grid
            for outcome in [policy_outcome(ConfidencePolicy(
                [float(value)] * deepest + [0.0] + [1.0] * (4 - deepest)), outputs, labels,
                costs)]
            if loss_upper_bound(outcome["errors"], final_errors, 1.0) <= target + 1e-12)
        assert report["expected_mean_cost"] <= cheapest + 1e-9, target
