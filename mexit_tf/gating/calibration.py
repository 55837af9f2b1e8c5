"""Choosing a policy's thresholds on held-out outputs (never the test split)."""

import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.gating.budget_policy import BudgetPolicy
from mexit_tf.gating.exit_policy import POLICY_TYPES, ExitPolicy, softmax
from mexit_tf.gating.patience_policy import PatiencePolicy
from mexit_tf.gating.threshold_policy import ThresholdPolicy


def policy_outcome(policy: ExitPolicy, outputs, labels, stage_costs) -> dict:
    """Accuracy, exit histogram and mean cost of `policy` on stored exit outputs."""
    exits = policy.select_exits(outputs)
    stacked = np.stack([np.asarray(o) for o in outputs])  # (K, N, C)
    answers = stacked[exits, np.arange(len(exits))].argmax(-1)
    cumulative = np.cumsum(stage_costs)
    histogram = np.bincount(exits, minlength=len(outputs)) / len(exits)
    correct = answers == np.asarray(labels).reshape(-1)
    return {"accuracy": float(np.mean(correct)),
            "exit_histogram": [round(float(h), 4) for h in histogram],
            "mean_cost": float(np.mean(cumulative[exits])),
            "exits": exits, "correct": correct}


def loss_upper_bound(correct, final_correct, sigmas: float) -> float:
    """Accuracy loss vs the final exit, plus `sigmas` standard errors of that estimate.

    The loss is the mean of paired differences (final right, policy wrong: +1;
    the reverse: -1), so its standard error is small when the two mostly agree
    and large when they disagree often, which is what decides how far a
    validation estimate can be trusted on new data.
    """
    differences = np.asarray(final_correct, np.float64) - np.asarray(correct, np.float64)
    error = differences.std(ddof=1) / np.sqrt(len(differences)) if len(differences) > 1 else 0.0
    return float(differences.mean() + sigmas * error)


def _threshold_grid(policy_class, outputs, size=64):
    """Candidate thresholds: quantiles of the early exits' scores, plus the extremes."""
    scores = np.concatenate([policy_class.score(softmax(np.asarray(o, np.float64)))
                             for o in outputs[:-1]])
    grid = np.quantile(scores, np.linspace(0, 1, size))
    low, high = policy_class.score_range
    high = min(high, float(scores.max()) + 1.0) if np.isinf(high) else high
    return np.unique(np.clip(np.concatenate([grid, [low, high]]), low, high))


def calibrate_policy(policy_type: str, outputs, labels, stage_costs, target_loss: float = 0.005,
                     budget: float | None = None, sigmas: float = 1.0) -> tuple[ExitPolicy, dict]:
    """Calibrates a policy on validation outputs.

    With `budget=None`: the cheapest policy (lowest mean cost) whose accuracy
    loss vs the final exit stays within `target_loss` (a fraction: 0.005 = 0.5
    points) with `sigmas` standard errors to spare (`loss_upper_bound`): a
    policy tuned to just meet the target on validation misses it on new data
    about half the time, and the search over thresholds favours policies that
    got lucky. `sigmas=0` meets the target on validation exactly. With
    `budget`: the most accurate policy whose mean cost fits it (for `budget`
    policies: the deepest exit that fits).

    `outputs`: K arrays (N, C), shallowest first; `stage_costs`: K per-stage
    costs (ms or MACs). Returns `(policy, report)`.
    """
    if policy_type not in POLICY_TYPES:
        raise MexitError(f"Unknown policy {policy_type!r}; known: {', '.join(POLICY_TYPES)}.")
    if target_loss is not None and not 0 <= target_loss < 1:
        raise MexitError(f"target loss must be a fraction in [0, 1); received {target_loss!r}.")
    labels = np.asarray(labels).reshape(-1)
    num_exits = len(outputs)
    final_correct = np.asarray(outputs[-1]).argmax(-1) == labels
    final_accuracy = float(np.mean(final_correct))

    def better(candidate, best):
        if budget is None:
            bound = loss_upper_bound(candidate["correct"], final_correct, sigmas)
            feasible = bound <= (target_loss or 0.0) + 1e-12
            key = (-candidate["mean_cost"], candidate["accuracy"])
        else:
            feasible = candidate["mean_cost"] <= budget
            key = (candidate["accuracy"], -candidate["mean_cost"])
        return feasible and (best is None or key > best[0]), key

    def consider(policy, best):
        outcome = policy_outcome(policy, outputs, labels, stage_costs)
        is_better, key = better(outcome, best)
        return (key, policy, outcome) if is_better else best

    policy_class = POLICY_TYPES[policy_type]
    best = None
    if policy_type == "budget":
        for deepest in range(num_exits):
            cost = float(np.sum(stage_costs[:deepest + 1]))
            best = consider(BudgetPolicy(budget if budget is not None else cost, stage_costs),
                            best)
    elif policy_type == "patience":
        for patience in range(1, num_exits + 1):
            best = consider(PatiencePolicy(patience, num_exits), best)
    elif issubclass(policy_class, ThresholdPolicy):
        grid = _threshold_grid(policy_class, outputs)
        for value in grid:  # one shared threshold first ...
            best = consider(policy_class([float(value)] * (num_exits - 1)), best)
        for _ in range(2):  # ... then refine exit by exit
            for index in range(num_exits - 1):
                current = list(best[1].thresholds) if best else [float(grid[-1])] * (
                    num_exits - 1)
                for value in grid:
                    current[index] = float(value)
                    best = consider(policy_class(list(current)), best)
    if best is None:
        raise MexitError(
            f"No {policy_type} policy meets the target on the calibration data "
            f"(budget {budget}); relax the target.")
    _, policy, outcome = best
    final_cost = float(np.sum(stage_costs))
    report = {
        "policy": policy.to_dict(), "target_loss": target_loss if budget is None else None,
        "budget": budget, "sigmas": sigmas if budget is None else None,
        "expected_loss_upper_bound": round(
            loss_upper_bound(outcome["correct"], final_correct, sigmas), 5),
        "calibration_examples": int(len(labels)),
        "final_exit_accuracy": round(final_accuracy, 5),
        "expected_accuracy": round(outcome["accuracy"], 5),
        "exit_histogram": outcome["exit_histogram"],
        "expected_mean_cost": round(outcome["mean_cost"], 5),
        "final_exit_cost": round(final_cost, 5),
        "expected_speedup": round(final_cost / max(outcome["mean_cost"], 1e-12), 3),
    }
    return policy, report
