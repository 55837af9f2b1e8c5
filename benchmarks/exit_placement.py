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
and answers every test example, in an order shuffled per example.

    python benchmarks/exit_placement.py      # fashion_mnist_c, 30k images, 2 epochs (~25 min)
    python benchmarks/exit_placement.py --dataset fashion_mnist    # clean Fashion-MNIST
    python benchmarks/exit_placement.py --smoke                    # tiny, for tests

The fashion_mnist_c model is `corruption_depth.py`'s (same cache name and recipe), the
fashion_mnist one the policy study's, so either is trained once for both studies.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import save_result  # noqa: E402
from _study import study_arguments, study_backbone, study_recipe, train_cached  # noqa: E402
from deadline_study import deadline_sweep, sweep  # noqa: E402
from mexit_tf.converters.bundle_export import export_bundle  # noqa: E402
from mexit_tf.converters.exit_placement import place_exits  # noqa: E402

from mexit_tf.errors import MexitError  # noqa: E402
from mexit_tf.gating import calibrate_policy, policy_outcome  # noqa: E402
from mexit_tf.models.exit_subset import keep_exits  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402

TARGETS = (0.25, 0.5, 1.0, 2.0)  # accuracy-loss targets, points
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
    parser.set_defaults(train_images=30000)
    args = parser.parse_args(argv)
    if args.smoke:
        args.examples, args.deadlines, args.warmup = 12, 3, 2
    started = time.perf_counter()
    data, recipe = _data_and_recipe(args)
    model, fit_seconds = _trained_model(args, data, recipe)
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
        policies = {name: _policies(path, outputs[name]["val"], y_val)
                    for name, path in bundles.items()}
        deadlines = deadline_sweep(Cascade(full), args.deadlines)
        calls = _candidates(bundles, policies, deadlines)
        print(f"sweep: {len(calls)} candidates over {len(x_test)} test examples", flush=True)
        rows = sweep(calls, x_test, y_test, args.warmup)
    result = {"data": data.describe(), "dataset": args.dataset, "recipe": recipe,
              "fit_seconds": fit_seconds, "export_target_points": EXPORT_TARGET,
              "examples": len(x_test), "runs": runs, "threads": 1,
              "placement": placement, "placement_seconds": placement_seconds,
              "exits": _per_exit(placement, outputs["full"]["test"], y_test,
                                 policies["full"][EXPORT_TARGET]),
              "targets": _by_target(rows, policies),
              "deadlines": _by_deadline(rows, deadlines),
              "wall_seconds": round(time.perf_counter() - started, 1)}
    result["verdict"] = verdict(result)
    if not args.smoke:
        save_result("exit_placement", result, "python benchmarks/exit_placement.py --dataset "
                    f"{args.dataset} --train-images {args.train_images} --epochs {args.epochs} "
                    f"--examples {args.examples} --deadlines {args.deadlines} --runs {args.runs}",
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
    name = SHARED_MODELS[args.dataset]
    layers = study_backbone(args.smoke).num_layers
    return train_cached(
        name, lambda: MultiExitModel(study_backbone(args.smoke),
                                     exits={b: "mlp_ee" for b in range(1, layers)},
                                     num_outputs=len(data.class_names)),
        data, recipe, None if args.smoke else Path(args.work))


def _run_all(bundle, x):
    with Cascade(bundle) as cascade:
        return cascade.run_all(x, progress=False)[0]


def _policies(bundle, val_outputs, y_val) -> dict:
    """Per target (points): the bundle's confidence policy calibrated on validation, with
    the stage latencies its export measured (as `mexit export` calibrates)."""
    with Cascade(bundle) as cascade:
        costs = [stage["cost"]["latency_ms"] for stage in cascade.manifest["stages"]]
    policies = {}
    for target in TARGETS:
        try:
            policies[target] = calibrate_policy("confidence", val_outputs, y_val, costs,
                                                target_loss=target / 100)[0]
        except MexitError:  # no threshold meets it on validation (a one-stage bundle)
            continue
    return policies


def _candidates(bundles, policies, deadlines) -> dict:
    """name -> (deadline or None, call(x) -> (label, exit index)); each its own load."""
    calls = {}
    for name, path in bundles.items():
        for target, policy in policies[name].items():
            cascade = Cascade(path, policy=policy)
            calls[f"{name} target {target:g}"] = (None, _answer(cascade))
        for deadline in deadlines:
            cascade = Cascade(path, policy=policies[name][EXPORT_TARGET])
            calls[f"{name} deadline {deadline}"] = (deadline, _answer(cascade, deadline))
    return calls


def _answer(cascade, deadline=None):
    def call(x):
        result = cascade.predict(x, deadline_ms=deadline)
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


def _by_target(rows, policies) -> list[dict]:
    table = []
    for target in TARGETS:
        entry = {"target_points": target}
        for name in ("full", "pruned"):
            row = rows.get(f"{name} target {target:g}")
            if row is not None:
                entry[name] = {key: row[key] for key in ("accuracy", "mean_ms", "p99_ms",
                                                         "exit_histogram")}
        table.append(entry)
    return table


def _by_deadline(rows, deadlines) -> list[dict]:
    table = []
    for deadline in deadlines:
        entry = {"deadline_ms": deadline}
        for name in ("full", "pruned"):
            row = rows[f"{name} deadline {deadline}"]
            entry[name] = {"late_share": round(float(np.mean(row["ms"] > deadline)), 5),
                           **{key: row[key] for key in ("accuracy", "mean_ms", "p99_ms",
                                                        "exit_histogram")}}
        table.append(entry)
    return table


def verdict(result) -> dict:
    """Is the pruned bundle no slower than the full one at every target and deadline?"""
    targets = [row for row in result["targets"] if "full" in row and "pruned" in row]
    ratios = [row["pruned"]["mean_ms"] / row["full"]["mean_ms"] for row in targets]
    late = [row["pruned"]["late_share"] - row["full"]["late_share"]
            for row in result["deadlines"]]
    deadline_ratios = [row["pruned"]["mean_ms"] / row["full"]["mean_ms"]
                       for row in result["deadlines"]]
    return {"dropped": [d["exit"] for d in result["placement"]["dropped"]],
            "mean_ms_ratio_by_target": [round(r, 4) for r in ratios],
            "no_slower_at_every_target": all(r <= 1.0 for r in ratios),
            "late_share_change_by_deadline": [round(d, 5) for d in late],
            "mean_ms_ratio_by_deadline": [round(r, 4) for r in deadline_ratios],
            "no_more_late_at_every_deadline": all(d <= 0 for d in late)}


if __name__ == "__main__":
    main()
