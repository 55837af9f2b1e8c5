"""Choosing a policy's thresholds on held-out outputs (never the test split)."""

import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.gating.budget_policy import BudgetPolicy
from mexit_tf.gating.exit_policy import POLICY_TYPES, ExitPolicy, softmax
from mexit_tf.gating.patience_policy import PatiencePolicy
from mexit_tf.gating.threshold_policy import ThresholdPolicy


def example_errors(outputs, labels, task: str = "classification") -> np.ndarray:
    """Per example: 1 if the top class is wrong, 0 if right; or, for regression, the
    absolute error of the prediction (the mean, for mean + log-variance outputs)."""
    outputs, labels = np.asarray(outputs), np.asarray(labels).reshape(-1)
    if task == "regression":
        return np.abs(outputs[:, 0].astype(np.float64) - labels)
    return (outputs.argmax(-1) != labels).astype(np.float64)


def _outcome(exits, chosen_errors, cumulative_costs, num_exits: int, task: str) -> dict:
    """What a policy did, from the exit each example left at and its error there."""
    histogram = np.bincount(exits, minlength=num_exits) / len(exits)
    metric = "mae" if task == "regression" else "accuracy"
    return {metric: float(np.mean(chosen_errors)) if task == "regression"
            else 1 - float(np.mean(chosen_errors)),
            "exit_histogram": [round(float(h), 4) for h in histogram],
            "mean_cost": float(np.mean(cumulative_costs[exits])),
            "exits": exits, "errors": chosen_errors}


def policy_outcome(policy: ExitPolicy, outputs, labels, stage_costs,
                   task: str = "classification") -> dict:
    """Accuracy (or MAE, for regression), exit histogram and mean cost of `policy` on
    stored exit outputs."""
    exits = policy.select_exits(outputs)
    stacked = np.stack([np.asarray(o) for o in outputs])  # (K, N, C)
    errors = example_errors(stacked[exits, np.arange(len(exits))], labels, task)
    return _outcome(exits, errors, np.cumsum(stage_costs), len(outputs), task)


def threshold_outcomes(policy_class, outputs, labels, stage_costs,
                       task: str = "classification"):
    """`outcome(policy)`, the same as `policy_outcome` for a score-threshold policy
    (confidence, entropy, margin) of `policy_class`, with each exit's scores and errors
    computed once: the calibration search weighs thousands of threshold sets, and the
    softmax of every exit on every call was ~95% of its time."""
    errors_and_cost = _threshold_scan(policy_class, outputs, labels, stage_costs, task)

    def outcome(policy) -> dict:
        exits, chosen, _ = errors_and_cost(policy.thresholds)
        return _outcome(exits, chosen, np.cumsum(stage_costs), len(outputs), task)
    return outcome


def _threshold_scan(policy_class, outputs, labels, stage_costs, task):
    """`scan(thresholds) -> (exits, errors, mean cost)` for score-threshold policies of
    `policy_class`, from scores and errors computed once."""
    labels = np.asarray(labels).reshape(-1)
    scores = np.array([policy_class.score(softmax(np.asarray(o, np.float64)))
                       for o in outputs[:-1]]).reshape(len(outputs) - 1, len(labels))
    errors = np.stack([example_errors(o, labels, task) for o in outputs])
    cumulative, examples = np.cumsum(stage_costs), np.arange(len(labels))
    final, early = len(outputs) - 1, np.arange(len(outputs) - 1)[:, None]

    def scan(thresholds):
        thresholds = np.asarray(thresholds, np.float64)[:, None]
        accepts = scores >= thresholds if policy_class.higher_is_confident \
            else scores <= thresholds
        # the first exit that accepts, else the final one (the only one, with no scores)
        exits = (np.where(accepts, early, final).min(0) if len(scores)
                 else np.full(len(labels), final))
        return exits, errors[exits, examples], float(cumulative[exits].mean())
    return scan


def loss_upper_bound(errors, final_errors, sigmas: float) -> float:
    """Loss vs the final exit (accuracy, or MAE), plus `sigmas` standard errors of it.

    The loss is the mean of paired per-example differences (policy error minus
    final-exit error), so its standard error is small when the two mostly
    agree and large when they disagree often, which is what decides how far a
    validation estimate can be trusted on new data.
    """
    differences = np.asarray(errors, np.float64) - np.asarray(final_errors, np.float64)
    count, mean = len(differences), float(differences.mean())
    if count < 2:
        return mean
    # The sample variance from the sum of squares: np.std cost most of a search step.
    variance = max(float(differences @ differences) - count * mean * mean, 0.0) / (count - 1)
    return mean + sigmas * float(np.sqrt(variance / count))


def _threshold_grid(policy_class, outputs, size=64):
    """Candidate thresholds: quantiles of the early exits' scores, plus the extremes."""
    if issubclass(policy_class, ThresholdPolicy):
        # A bundle of the final exit alone has no early scores: one (unused) candidate.
        scores = np.concatenate([policy_class.score(softmax(np.asarray(o, np.float64)))
                                 for o in outputs[:-1]] or [[0.0]])
    else:  # regression policies score from raw outputs
        scores = np.concatenate([policy_class.scores(outputs, index) for index in
                                 range(policy_class.first_exit, len(outputs) - 1)] or [[0.0]])
    grid = np.quantile(scores, np.linspace(0, 1, size))
    low, high = policy_class.score_range
    high = min(high, float(scores.max()) + 1.0) if np.isinf(high) else high
    return np.unique(np.clip(np.concatenate([grid, [low, high]]), low, high))


def calibrate_policy(policy_type: str, outputs, labels, stage_costs, target_loss: float = 0.005,
                     budget: float | None = None, sigmas: float = 1.0,
                     task: str = "classification",
                     starts: tuple = ()) -> tuple[ExitPolicy, dict]:
    """Calibrates a policy on validation outputs.

    With `budget=None`: the cheapest policy (lowest mean cost) whose accuracy
    loss vs the final exit stays within `target_loss` (a fraction: 0.005 = 0.5
    points) with `sigmas` standard errors to spare (`loss_upper_bound`): a
    policy tuned to just meet the target on validation misses it on new data
    about half the time, and the search over thresholds favours policies that
    got lucky. `sigmas=0` meets the target on validation exactly. With
    `budget`: the most accurate policy whose mean cost fits it (for `budget`
    policies: the deepest exit that fits).

    `task="regression"`: the loss is the increase in mean absolute error, and
    `target_loss` is in target units (e.g. 0.1 counts); policies `agreement`,
    `std` (exits with predicted variance) or `budget`.

    `outputs`: K arrays (N, C), shallowest first; `stage_costs`: K per-stage
    costs (ms or MACs). `starts`: policies of the same type and exits to search from
    too (the threshold search is local: the result is no costlier than any start that
    meets the target, e.g. a bundle's policy moved onto the same bundle without an unused
    exit). Patience and budget searches try every setting, so a start adds nothing there;
    it is checked and not searched from.
    Returns `(policy, report)`.
    """
    if policy_type not in POLICY_TYPES:
        raise MexitError(f"Unknown policy {policy_type!r}; known: {', '.join(POLICY_TYPES)}.")
    if task not in POLICY_TYPES[policy_type].tasks:
        raise MexitError(f"Policy {policy_type!r} does not fit a {task} model; use one of "
                         f"{', '.join(k for k, c in POLICY_TYPES.items() if task in c.tasks)}.")
    top = 1 if task == "classification" else float("inf")
    if target_loss is not None and not 0 <= target_loss < top:
        raise MexitError(f"target loss must be in [0, {top}); received {target_loss!r}.")
    for start in starts:
        if type(start) is not POLICY_TYPES[policy_type]:
            raise MexitError(f"A start for a {policy_type} policy must be one; received "
                             f"{start.to_dict()}.")
    labels = np.asarray(labels).reshape(-1)
    num_exits = len(outputs)
    final_errors = example_errors(outputs[-1], labels, task)

    def better(errors, mean_cost, best):
        if budget is None:
            bound = loss_upper_bound(errors, final_errors, sigmas)
            feasible = bound <= (target_loss or 0.0) + 1e-12
            key = (-mean_cost, -errors.mean())
        else:
            feasible = mean_cost <= budget
            key = (-errors.mean(), -mean_cost)
        return feasible and (best is None or key > best[0]), key

    policy_class = POLICY_TYPES[policy_type]
    quick = issubclass(policy_class, ThresholdPolicy) and \
        policy_class.accepts is ThresholdPolicy.accepts
    scan = _threshold_scan(policy_class, outputs, labels, stage_costs, task) if quick else None

    def as_policy(candidate) -> ExitPolicy:  # threshold candidates are tuples until chosen
        return candidate if isinstance(candidate, ExitPolicy) else policy_class(list(candidate))

    def consider(candidate, best):
        if quick:
            _, errors, mean_cost = scan(candidate)
        else:
            outcome = policy_outcome(as_policy(candidate), outputs, labels, stage_costs, task)
            errors, mean_cost = outcome["errors"], outcome["mean_cost"]
        is_better, key = better(errors, mean_cost, best)
        return (key, candidate) if is_better else best

    best = None
    if policy_type == "budget":
        for deepest in range(num_exits):
            cost = float(np.sum(stage_costs[:deepest + 1]))
            best = consider(BudgetPolicy(budget if budget is not None else cost, stage_costs),
                            best)
    elif policy_type == "patience":
        for patience in range(1, num_exits + 1):
            best = consider(PatiencePolicy(patience, num_exits), best)
    else:  # a threshold per exit
        count = num_exits - 1 - policy_class.first_exit
        grid = [float(value) for value in _threshold_grid(policy_class, outputs)]
        # The threshold that sends every input on (the safest start).
        safest = grid[-1] if policy_class.higher_is_confident else grid[0]

        def refine(start, rounds):  # exit by exit, until a round changes nothing
            for _ in range(rounds):
                before = start
                for index in range(count):
                    current = list(start[1]) if start else [safest] * count
                    for value in grid:
                        current[index] = value
                        start = consider(tuple(current), start)
                if start is before:
                    break
            return start

        def keep_better(candidate):
            nonlocal best
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best = candidate

        shared = None
        for value in grid:  # one shared threshold first ...
            shared = consider((value,) * count, shared)
        keep_better(refine(shared, 2))  # ... then refined
        if quick:  # (each outcome costs microseconds here, so search wider)
            # From every "deepest exit" too: a shared threshold before it, every input
            # answered there at the latest. Refining one shared threshold stopped short of
            # these: 0.412 ms where 0.401 met the same target (Fashion-MNIST, 6 exits).
            accept_all = grid[0] if policy_class.higher_is_confident else grid[-1]
            for deepest in range(count):
                capped = None
                for value in grid:
                    capped = consider((value,) * deepest + (accept_all,)
                                      + (safest,) * (count - deepest - 1), capped)
                keep_better(refine(capped, 8))
        for start in starts:  # the caller's candidates, e.g. a policy of the same exits
            if len(start.thresholds) != count:
                raise MexitError(f"A start for a {policy_type} policy of {count} thresholds; "
                                 f"received {start.to_dict()}.")
            keep_better(refine(consider(tuple(start.thresholds), None), 8 if quick else 2))
    if best is None:
        raise MexitError(
            f"No {policy_type} policy meets the target on the calibration data "
            f"(budget {budget}); relax the target.")
    policy = as_policy(best[1])
    if quick:  # the winner's whole outcome, from the scan the search made
        exits, chosen, _ = scan(policy.thresholds)
        outcome = _outcome(exits, chosen, np.cumsum(stage_costs), num_exits, task)
    else:
        outcome = policy_outcome(policy, outputs, labels, stage_costs, task)
    final_cost = float(np.sum(stage_costs))
    metric = "mae" if task == "regression" else "accuracy"
    final_score = float(final_errors.mean()) if task == "regression" else 1 - final_errors.mean()
    report = {
        "policy": policy.to_dict(), "task": task,
        "target_loss": target_loss if budget is None else None,
        "budget": budget, "sigmas": sigmas if budget is None else None,
        "expected_loss_upper_bound": round(
            loss_upper_bound(outcome["errors"], final_errors, sigmas), 5),
        "calibration_examples": int(len(labels)),
        f"final_exit_{metric}": round(float(final_score), 5),
        f"expected_{metric}": round(outcome[metric], 5),
        "exit_histogram": outcome["exit_histogram"],
        "expected_mean_cost": round(outcome["mean_cost"], 5),
        "final_exit_cost": round(final_cost, 5),
        "expected_speedup": round(final_cost / max(outcome["mean_cost"], 1e-12), 3),
    }
    return policy, report
