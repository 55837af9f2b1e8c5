"""Exit placement by measurement: which exits the calibrated policy uses, what each costs,
and the bundle pruned to the exits that pay, against the full one.

A multi-exit XS/4 model with an `mlp_ee` exit after every block (the CPU preset's
layout) is trained with the studies' recipe (`_study.study_recipe`) and exported
with every exit (the full bundle). `place_exits` then measures each early exit's
cost (head compute + stage boundary: the exit's stage and the next, run in turn,
minus the one stage that runs the same blocks without it; side by side, shuffled
order, medians, LiteRT 1 thread) and drops the exits that do not pay for
themselves under the confidence policy calibrated on validation
(`mexit_tf.gating.exit_selection.RULE`); the pruned bundle is exported and its
policy calibrated again. On the test split, full against pruned:

- per exit of the full bundle: the share of test examples its calibrated policy
  sends there, and the measured cost;
- at accuracy-loss targets of 0.25, 0.5, 1 and 2 points (each bundle's policy
  calibrated on validation): accuracy and mean latency per example, measured;
- at a sweep of deadlines (the deadline study's: from stage 0's latency to 1.5x
  all stages), `predict(x, deadline_ms=D)` with each bundle's policy: share of
  examples late, accuracy, mean latency.

Every candidate (bundle x target, bundle x deadline) loads its bundle for itself
and answers every test example, in an order shuffled per example. Beside full and
pruned runs a third arm, *full again*: the full bundle loaded once more, an A/A
control whose gap to *full* is the harness's own; pruned is judged against that gap
(`verdict`). Each arm is `--loads` separate loads of its bundle taking the examples in
turn, loaded interleaved with the other arms' in a shuffled order (`_candidates`:
each load of a bundle has a speed of its own).

    python benchmarks/exit_placement.py      # fashion_mnist_c, 30k images, 2 epochs (~20 min)
    python benchmarks/exit_placement.py --dataset fashion_mnist    # clean Fashion-MNIST
    python benchmarks/exit_placement.py --head vit_ee    # a costlier head after every block
    python benchmarks/exit_placement.py --untrained-exits 2,3,4    # the positive control
    python benchmarks/exit_placement.py --smoke                    # tiny, for tests

The fashion_mnist_c model is `corruption_depth.py`'s (same cache name and recipe), the
fashion_mnist one the policy study's, so either is trained once for both studies.
"""

import argparse
import itertools
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).parent))
from _common import save_result  # noqa: E402
from _report_exit_placement import result_name  # noqa: E402
from _study import study_arguments, study_backbone, study_recipe, train_cached  # noqa: E402
from deadline_study import deadline_sweep, sweep  # noqa: E402
from mexit_tf.converters.bundle_export import export_bundle  # noqa: E402
from mexit_tf.converters.exit_placement import place_exits  # noqa: E402

from mexit_tf.errors import MexitError  # noqa: E402
from mexit_tf.gating import calibrate_policy, policy_outcome  # noqa: E402
from mexit_tf.gating.exit_policy import ExitPolicy  # noqa: E402
from mexit_tf.gating.exit_selection import without_exit  # noqa: E402
from mexit_tf.models.exit_subset import keep_exits, with_exit_heads  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402

TARGETS = (0.25, 0.5, 1.0, 2.0)  # accuracy-loss targets, points
# Each comparison's interval (`_changes`): two-sided, 95% for all comparisons of a run
# together (Bonferroni over its targets and deadlines).
CONFIDENCE = 0.95
# The arms of every comparison; "full again" is the full bundle loaded once more (A/A).
ARMS = ("full", "pruned", "full again")
EXPORT_TARGET = 0.5  # the target `mexit export` calibrates for by default
SEED = 0
# The cached model each dataset's run shares with another study (policy_study.py,
# corruption_depth.py): the same name and recipe, so it is trained once.
SHARED_MODELS = {"fashion_mnist": "every_block_mlp_ee",
                 "fashion_mnist_c": "corruption_depth_multi_exit"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    study_arguments(parser)
    parser.add_argument("--dataset", default="fashion_mnist_c",
                        choices=sorted(SHARED_MODELS), help="data source (default: %(default)s)")
    parser.add_argument("--examples", type=int, default=10000, help="test examples")
    parser.add_argument("--deadlines", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=20, help="unrecorded examples first")
    parser.add_argument("--min-share", type=float, default=0.0)
    parser.add_argument("--head", default="mlp_ee",
                        help="the exit head after every block (a costlier one, e.g. vit_ee, "
                        "gives exits that do not pay)")
    parser.add_argument("--untrained-exits", type=_block_list, default=(),
                        help="a positive control: exits (block numbers, e.g. 2,3,4) whose heads "
                        "are left as initialised, never trained. No policy can use them, yet "
                        "every input that reaches one pays its head: placement should drop "
                        "them, and the pruned bundle be measurably faster")
    parser.add_argument("--loads", type=int, default=8,
                        help="loads of its bundle per arm, taking the examples in turn")
    parser.set_defaults(train_images=30000)
    args = parser.parse_args(argv)
    early = range(2, study_backbone(args.smoke).num_layers)  # after the first exit
    if not set(args.untrained_exits) <= set(early):
        parser.error(f"--untrained-exits takes blocks {early.start}-{early.stop - 1} (early "
                     f"exits after the first); received "
                     f"{','.join(map(str, args.untrained_exits))}")
    if args.smoke:
        args.examples, args.deadlines, args.warmup, args.loads = 12, 3, 2, 2
    started = time.perf_counter()
    data, recipe = _data_and_recipe(args)
    model, fit_seconds = _trained_model(args, data, recipe)
    if args.untrained_exits:
        model = with_untrained_heads(model, args.untrained_exits, args.head)
    runs = 5 if args.smoke else args.runs
    x_val, y_val = data.x_val, np.asarray(data.y_val)
    x_test, y_test = data.x_test[:args.examples], np.asarray(data.y_test[:args.examples])
    with tempfile.TemporaryDirectory(prefix="mexit-placement-") as folder:
        full, pruned = Path(folder) / "full", Path(folder) / "pruned"
        export_bundle(model, full, (x_val, y_val), target_loss=EXPORT_TARGET / 100,
                      latency_runs=runs, progress=False)
        placed = time.perf_counter()
        placement = place_exits(model, (x_val, y_val), target_loss=EXPORT_TARGET / 100,
                                min_share=args.min_share, runs=runs, bundle=full)
        placement_seconds = round(time.perf_counter() - placed, 1)
        export_bundle(keep_exits(model, placement["kept"]), pruned, (x_val, y_val),
                      target_loss=EXPORT_TARGET / 100, latency_runs=runs, progress=False,
                      exit_placement=placement)
        bundles = {"full": full, "pruned": pruned}
        outputs = {name: {split: _run_all(path, x) for split, x in
                          (("val", x_val), ("test", x_test))} for name, path in bundles.items()}
        policies = {"full": _policies(full, outputs["full"]["val"], y_val)}
        # The full bundle's policy per target, less the dropped exits' thresholds, is a
        # start for the pruned one's: no costlier on validation than that, if it meets the
        # target (as `mexit export --exits-from-policy` starts from what placement found).
        dropped = [placement["full_exits"].index(d["exit"]) for d in placement["dropped"]]
        # At the export target, what placement found too (export starts from it).
        found = placement["pruned"].get("policy")
        policies["pruned"] = _policies(pruned, outputs["pruned"]["val"], y_val, {
            target: tuple(start for start in (
                _without_exits(policy, dropped),
                ExitPolicy.from_dict(found) if found and target == EXPORT_TARGET else None)
                if start is not None)
            for target, policy in policies["full"].items()})
        deadlines = deadline_sweep(Cascade(full), args.deadlines)
        calls = _candidates(bundles, policies, deadlines, args.loads)
        print(f"sweep: {len(calls)} candidates over {len(x_test)} test examples", flush=True)
        rows = sweep(calls, x_test, y_test, args.warmup)
    # Which load of its arm answered each example: every call takes the next (warmup too).
    groups = (np.arange(len(x_test)) + args.warmup) % args.loads
    comparisons = len(TARGETS) + len(deadlines)
    quantile = float(scipy.stats.t.ppf(1 - (1 - CONFIDENCE) / (2 * comparisons), args.loads - 1))
    result = {"data": data.describe(), "dataset": args.dataset, "head": args.head,
              "untrained_exits": list(args.untrained_exits),
              "recipe": recipe,
              "fit_seconds": fit_seconds, "export_target_points": EXPORT_TARGET,
              "examples": len(x_test), "runs": runs, "threads": 1,
              "placement": placement, "placement_seconds": placement_seconds,
              "exits": _per_exit(placement, outputs["full"]["test"], y_test,
                                 policies["full"][EXPORT_TARGET]),
              "interval": {"confidence": CONFIDENCE, "comparisons": comparisons,
                           "loads": args.loads, "t_quantile": round(quantile, 4)},
              "targets": _by_target(rows, groups, quantile),
              "deadlines": _by_deadline(rows, deadlines, groups, quantile),
              "wall_seconds": round(time.perf_counter() - started, 1)}
    result["verdict"] = verdict(result)
    if not args.smoke:
        name = result_name(args.dataset, args.head, args.untrained_exits)
        save_result(name, result, "python benchmarks/exit_placement.py --dataset "
                    f"{args.dataset} --train-images {args.train_images} --epochs {args.epochs} "
                    f"--examples {args.examples} --deadlines {args.deadlines} --runs {args.runs} "
                    f"--loads {args.loads} --head {args.head}"
                    + (" --untrained-exits " + ",".join(map(str, args.untrained_exits))
                       if args.untrained_exits else ""),
                    SEED, note=args.note)
    print("kept:", placement["kept"], "dropped:", [d["exit"] for d in placement["dropped"]])
    print(result["verdict"])
    return result


def _data_and_recipe(args):
    recipe = study_recipe(args.train_images, args.epochs, args.smoke)
    if args.smoke:
        from _common import smoke_data

        return smoke_data(), recipe
    from mexit_tf.data.dataset_loader import load_dataset

    data = load_dataset({"dataset": args.dataset, "seed": SEED}).subset(args.train_images)
    if args.dataset == "fashion_mnist_c":
        # The recipe as corruption_depth.py writes it, so its trained model is reused.
        from mexit_tf.data.corruptions import SEVERITIES

        recipe.update(dataset="fashion_mnist_c", corruptions=SEVERITIES)
    return data, recipe


def _trained_model(args, data, recipe):
    name = SHARED_MODELS[args.dataset] if args.head == "mlp_ee" \
        else f"every_block_{args.head}_{args.dataset}"
    layers = study_backbone(args.smoke).num_layers
    return train_cached(
        name, lambda: MultiExitModel(study_backbone(args.smoke),
                                     exits={b: args.head for b in range(1, layers)},
                                     num_outputs=len(data.class_names)),
        data, recipe, None if args.smoke else Path(args.work))


def _block_list(text: str) -> tuple:
    try:
        return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"block numbers separated by commas, e.g. 2,3,4; received {text!r}") from None


def with_untrained_heads(model, blocks, head: str):
    """`model` (sharing its layers) with the exit heads after `blocks` replaced by fresh
    `head`s, as initialised (seeded): exits we know cannot pay, to check that placement
    drops them and that dropping them is measured as faster."""
    import keras

    unknown = sorted(set(blocks) - set(model.exit_blocks[1:]))
    if unknown:
        raise MexitError(f"--untrained-exits takes blocks of early exits after the first "
                         f"({model.exit_blocks[1:]}); received {unknown}.")
    keras.utils.set_random_seed(SEED)
    heads = {block: head if block in blocks else trained
             for block, trained in zip(model.exit_blocks, model.exit_heads, strict=True)}
    return with_exit_heads(model, heads, f"{model.name}_untrained")


def _run_all(bundle, x):
    with Cascade(bundle) as cascade:
        return cascade.run_all(x, progress=False)[0]


def _without_exits(policy, positions):
    for position in sorted(positions, reverse=True):
        policy = without_exit(policy, position)
    return policy


def _policies(bundle, val_outputs, y_val, starts=None) -> dict:
    """Per target (points): the bundle's confidence policy calibrated on validation, with
    the stage latencies its export measured (as `mexit export` calibrates); `starts`:
    policies per target to search from too."""
    with Cascade(bundle) as cascade:
        costs = [stage["cost"]["latency_ms"] for stage in cascade.manifest["stages"]]
    policies = {}
    for target in TARGETS:
        try:
            policies[target] = calibrate_policy("confidence", val_outputs, y_val, costs,
                                                target_loss=target / 100,
                                                starts=(starts or {}).get(target, ()))[0]
        except MexitError:  # no threshold meets it on validation (a one-stage bundle)
            continue
    return policies


def _candidates(bundles, policies, deadlines, loads: int = 8, seed: int = SEED) -> dict:
    """name -> (deadline or None, call(x) -> (label, exit index)); each arm of each
    comparison (full, pruned, full again) is `loads` loads of its bundle, answering the
    examples in turn.

    Each load of a bundle has a speed of its own: one bundle loaded 16 times, every
    example through every load in a shuffled order, twice over, gave per-load means
    0.53-0.55 ms (4% apart) whose ranks the two passes kept (correlation 0.96); the
    loads made first were the slowest (rank correlation with load order -0.71). One
    load per arm left a 6% gap between two exports of the same bundle, and loading every
    full candidate before every pruned one 3-9%. So an arm's loads are averaged, and
    each comparison's loads are made round by round, the arms in a shuffled order.
    """
    comparisons = [("target", t) for t in TARGETS] + [("deadline", d) for d in deadlines]
    shuffler = random.Random(seed)
    shuffler.shuffle(comparisons)
    calls = {}
    for kind, value in comparisons:
        arms = [arm for arm in ARMS if kind == "deadline"
                or value in policies["full" if arm == "full again" else arm]]
        cascades = {arm: [] for arm in arms}  # (no threshold met a target: no arm for it)
        for _ in range(loads):
            shuffler.shuffle(arms)
            for arm in arms:
                bundle = "full" if arm == "full again" else arm
                policy = policies[bundle][value if kind == "target" else EXPORT_TARGET]
                cascades[arm].append(Cascade(bundles[bundle], policy=policy))
        for arm in ARMS:
            if arm in cascades:
                deadline = value if kind == "deadline" else None
                name = f"{arm} {kind} {value:g}" if kind == "target" else f"{arm} {kind} {value}"
                calls[name] = (deadline, _answer(cascades[arm], deadline))
    return calls


def _answer(cascades, deadline=None):
    """A call that answers with the next of `cascades` each time (the examples in turn)."""
    turn = itertools.count()

    def call(x):
        result = cascades[next(turn) % len(cascades)].predict(x, deadline_ms=deadline)
        return int(result.output.argmax()), result.exit_index
    return call


def _per_exit(placement, test_outputs, y_test, policy) -> list[dict]:
    """Each exit of the full bundle: the share of test examples its policy (export target)
    sends there, its measured head + boundary cost, and whether the pruned bundle kept it."""
    measured = placement["measured"]
    shares = policy_outcome(policy, test_outputs, y_test, measured["stage_ms"])["exit_histogram"]
    rows = []
    for index, name in enumerate(placement["full_exits"]):
        rows.append({"exit": name, "test_share": shares[index],
                     "stage_ms": measured["stage_ms"][index],
                     "head_boundary_ms": (measured["head_ms"][index]
                                          if index < len(measured["head_ms"]) else None),
                     "test_accuracy": round(float(np.mean(
                         test_outputs[index].argmax(-1) == y_test)), 4),
                     "kept": name in placement["kept"]})
    return rows


def _by_target(rows, groups, quantile) -> list[dict]:
    table = []
    for target in TARGETS:
        entry = {"target_points": target}
        names = {arm: f"{arm} target {target:g}" for arm in ARMS}
        if all(name in rows for name in names.values()):
            for arm, name in names.items():
                entry[arm] = {key: rows[name][key] for key in ("accuracy", "mean_ms", "p99_ms",
                                                               "exit_histogram")}
            entry.update(_changes(rows, names, groups, quantile))
        table.append(entry)
    return table


def _by_deadline(rows, deadlines, groups, quantile) -> list[dict]:
    table = []
    for deadline in deadlines:
        entry = {"deadline_ms": deadline}
        names = {arm: f"{arm} deadline {deadline}" for arm in ARMS}
        for arm, name in names.items():
            row = rows[name]
            entry[arm] = {"late_share": round(float(np.mean(row["ms"] > deadline)), 5),
                          **{key: row[key] for key in ("accuracy", "mean_ms", "p99_ms",
                                                       "exit_histogram")}}
        entry.update(_changes(rows, names, groups, quantile, deadline))
        table.append(entry)
    return table


def _changes(rows, names, groups, quantile, deadline=None) -> dict:
    """Pruned and the A/A arm against full, paired by load: the k-th load of every arm
    answered the same examples (`groups == k`), so per k the arm's mean latency over
    full's (and, with a deadline, its late share minus full's) is one paired difference.
    Their mean and the half-width of a t interval over the loads (`quantile`: the t
    quantile of `CONFIDENCE` over the run's comparisons)."""
    full = rows[names["full"]]["ms"]
    loads = int(groups.max()) + 1
    changes = {}
    for arm in ("pruned", "full again"):
        ms = rows[names[arm]]["ms"]
        measures = {"mean_ms_change": [ms[groups == k].mean() / full[groups == k].mean() - 1
                                       for k in range(loads)]}
        if deadline is not None:
            measures["late_share_change"] = [np.mean(ms[groups == k] > deadline)
                                             - np.mean(full[groups == k] > deadline)
                                             for k in range(loads)]
        changes[f"{arm} vs full"] = {
            name: {"mean": round(float(np.mean(d)), 5),
                   "half_width": round(quantile * float(np.std(d, ddof=1)) / loads ** 0.5, 5)}
            for name, d in measures.items()}
    return changes


def verdict(result) -> dict:
    """Is the pruned bundle no slower than the full one at every target and deadline, and
    faster where exits were dropped? Each judged on its paired interval (`_changes`): no
    slower unless the whole interval lies above 0, faster only if it lies below. The A/A
    arm, the same bundle, must find no difference anywhere: else the intervals are too
    narrow for the harness's noise and the verdict cannot be read."""
    targets = [row for row in result["targets"] if "pruned vs full" in row]
    rows = targets + result["deadlines"]

    def low(row, arm, measure="mean_ms_change"):
        change = row[f"{arm} vs full"][measure]
        return change["mean"] - change["half_width"]

    def high(row, arm, measure="mean_ms_change"):
        change = row[f"{arm} vs full"][measure]
        return change["mean"] + change["half_width"]

    late = "late_share_change"
    dropped = [d["exit"] for d in result["placement"]["dropped"]]
    return {"dropped": dropped,
            "no_slower_at_every_target_and_deadline": all(low(r, "pruned") <= 0 for r in rows),
            "no_more_late_at_every_deadline": all(low(r, "pruned", late) <= 0
                                                  for r in result["deadlines"]),
            # Where exits were dropped, faster at every target (at a deadline only exit 1
            # fits, both bundles run the same stage).
            "faster_at_every_target": bool(dropped) and all(high(r, "pruned") < 0
                                                            for r in targets),
            "aa_finds_no_difference": all(low(r, "full again") <= 0 <= high(r, "full again")
                                          for r in rows) and all(
                low(r, "full again", late) <= 0 <= high(r, "full again", late)
                for r in result["deadlines"])}


if __name__ == "__main__":
    main()
