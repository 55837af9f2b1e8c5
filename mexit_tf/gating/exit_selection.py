"""Which exits pay for themselves: dropping exits by the calibrated policy's mean latency."""

import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.gating.calibration import calibrate_policy, example_errors

RULE = ("The first exit always stays: it is the earliest answer a deadline can get, and "
        "dropping it raises the floor of every deadline. Any other early exit stays only if it "
        "pays for itself. Each round recalibrates the policy "
        "(same target, validation split) without each early exit in turn, the dropped exit's "
        "blocks merged into the next kept stage, which no longer runs its head or crosses its "
        "stage boundary; it drops the exit whose removal gives the lowest expected mean latency, "
        "if that is no higher than with it, at the target and at every other target the bundle "
        "offers (its operating points; with a budget: accuracy no lower), or (with min_share "
        "> 0) an exit the policy sends under min_share of the examples. It stops when no exit "
        "qualifies. The mean "
        "latency weighs both sides: the share leaving at an exit saves the later stages, every "
        "example reaching it pays its head + boundary.")


def merged_stage_costs(stage_ms, head_ms, kept) -> list[float]:
    """Per kept exit (indices, ascending, last = final), its stage's cost once the exits
    between are dropped: the stages it absorbs, less the heads + boundaries of the dropped
    exits among them (`head_ms[j]`: what exit j's head and stage boundary cost)."""
    costs, start = [], 0
    for exit_index in kept:
        absorbed = range(start, exit_index)
        costs.append(float(sum(stage_ms[start:exit_index + 1]) - sum(head_ms[j] for j in absorbed)))
        start = exit_index + 1
    return costs


def select_exits(outputs, labels, stage_ms, head_ms, policy: str, target_loss: float = 0.005,
                 budget: float | None = None, sigmas: float = 1.0, min_share: float = 0.0,
                 task: str = "classification", keep_first: bool = True,
                 also_targets: tuple = ()) -> tuple[list[int], dict]:
    """Drops early exits that do not pay for themselves (`RULE`); returns `(kept, record)`.

    `outputs`: every exit's validation outputs (K arrays (N, C), final last);
    `stage_ms`: the full bundle's K stage latencies; `head_ms`: the K-1 early
    exits' head + boundary costs (measured: `converters.exit_costs`). `record`
    lists each round's candidates with their measured figures, by exit index.
    `keep_first=False` lets the first exit go too (for bundles that never run
    with a deadline). `also_targets`: other accuracy-loss targets the bundle will be
    calibrated for (its operating points): an exit that pays at any of them stays (an
    exit dropped for a 0.5-point target made the bundle 3.9% slower at 0.25 points, where
    the policy sent 10% of examples there). `min_share` > 0 also drops exits the policy
    rarely uses even when they pay; it is off by default because a rarely used exit can
    still pay through the thresholds recalibration gives the others.
    """
    count = len(outputs)
    if len(stage_ms) != count or len(head_ms) != count - 1:
        raise MexitError(f"{count} exits need {count} stage latencies and {count - 1} head "
                         f"costs; received {len(stage_ms)} and {len(head_ms)}.")
    if not 0 <= min_share < 1:
        raise MexitError(f"min_share is a fraction of examples in [0, 1); received {min_share}.")
    metric = "expected_mae" if task == "regression" else "expected_accuracy"

    def outcome(kept, start=None, target=target_loss):
        if len(kept) == 1:  # the final exit alone: no policy to calibrate
            (cost,) = merged_stage_costs(stage_ms, head_ms, kept)
            errors = example_errors(outputs[-1], labels, task)
            score = errors.mean() if task == "regression" else 1 - errors.mean()
            return {"mean_ms": round(cost, 5), "error": float(errors.mean()),
                    "histogram": [1.0], metric: round(float(score), 5), "policy": None}
        chosen, report = calibrate_policy(
            policy, [outputs[k] for k in kept], labels, merged_stage_costs(stage_ms, head_ms, kept),
            target_loss=None if budget else target, budget=budget, sigmas=sigmas, task=task,
            starts=() if start is None else (start,))
        error = report[metric] if task == "regression" else 1 - report[metric]
        return {"mean_ms": report["expected_mean_cost"], "error": error,
                "histogram": report["exit_histogram"], metric: report[metric],
                "policy": chosen}

    def key(result):  # lower is better
        if budget is None:
            return (result["mean_ms"], result["error"])
        return (result["error"], result["mean_ms"])

    others = [t for t in also_targets if t != target_loss] if budget is None else []

    def at_other_targets(kept, starts):
        """Per other target, the outcome with `kept`; None where no policy meets it."""
        results = []
        for target, start in zip(others, starts, strict=True):
            try:
                results.append(outcome(kept, start, target))
            except MexitError:
                results.append(None)
        return results

    kept, current, rounds = list(range(count)), outcome(list(range(count))), []
    current_others = at_other_targets(kept, [None] * len(others))
    initial = dict(current)
    while len(kept) > 1:
        candidates = []
        for position, exit_index in enumerate(kept[:-1]):
            if keep_first and exit_index == 0:
                continue
            # The policy with it, minus its threshold, is a start: then the search finds
            # no costlier policy without the exit than one that never used it.
            without = [k for k in kept if k != exit_index]
            trial = outcome(without, without_exit(current["policy"], position))
            trial_others = at_other_targets(without, [
                other and without_exit(other["policy"], position) for other in current_others])
            share = current["histogram"][position]
            pays_at = [target for target, with_it, without_it
                       in zip(others, current_others, trial_others, strict=True)
                       if with_it is not None
                       and (without_it is None or key(without_it) > key(with_it))]
            pays = key(trial) > key(current) or bool(pays_at)
            candidates.append({
                "exit_index": exit_index, "share": share,
                "reach": round(float(np.sum(current["histogram"][position:])), 4),
                "head_ms": round(float(head_ms[exit_index]), 5),
                "mean_ms_with": round(current["mean_ms"], 5),
                "mean_ms_without": round(trial["mean_ms"], 5),
                f"{metric}_with": current[metric], f"{metric}_without": trial[metric],
                **({"pays_at_other_targets": pays_at} if others else {}),
                "reason": ("pays for itself" if pays and share >= min_share else
                           f"share {share:.4f} < min_share {min_share}" if share < min_share
                           else "does not pay: removing it is no slower"),
                "_trial": (trial, trial_others), "_drop": not pays or share < min_share})
        if not candidates:  # only the first exit is left, and it stays
            break
        droppable = [c for c in candidates if c["_drop"]]
        rounds.append([{k: v for k, v in c.items() if not k.startswith("_")}
                       for c in candidates])
        if not droppable:
            break
        chosen = min(droppable, key=lambda c: key(c["_trial"][0]))
        rounds[-1] = [{**c, "dropped": c["exit_index"] == chosen["exit_index"]}
                      for c in rounds[-1]]
        kept.remove(chosen["exit_index"])
        current, current_others = chosen["_trial"]
    return kept, {"rule": RULE, "min_share": min_share, "rounds": rounds,
                  "other_targets": others,
                  "full": {"mean_ms": initial["mean_ms"], metric: initial[metric],
                           "exit_histogram": initial["histogram"]},
                  "pruned": {"mean_ms": current["mean_ms"], metric: current[metric],
                             "exit_histogram": current["histogram"],
                             # a start for the pruned bundle's own calibration
                             "policy": current["policy"] and current["policy"].to_dict()}}


def without_exit(policy, position: int):
    """`policy` for the same exits less the one at `position` (its threshold taken out), or
    None when it has no per-exit thresholds (patience, budget) or none for that exit."""
    thresholds = getattr(policy, "thresholds", None)
    index = position - getattr(policy, "first_exit", 0)
    if thresholds is None or not 0 <= index < len(thresholds):
        return None
    return type(policy)([t for i, t in enumerate(thresholds) if i != index])
