"""Policy study: accuracy vs mean latency of every policy, float32 and int8, vs smaller models.

One multi-exit model (XS/4, an `mlp_ee` exit after every block) is exported
as a float32 bundle and, after quantization-aware fine-tuning, as an int8
bundle. For each bundle and policy, the policy is calibrated on the validation
split for a range of accuracy-loss targets and measured on the test split:
mean per-image latency (each image pays the stages it ran) and accuracy. The
alternative a user would otherwise ship is a smaller static model: the
backbone truncated after k blocks and trained alone (final head only), for
every k; the last of them is the final exit alone. All models share one
training recipe (`_study.study_recipe`); every stage and every truncated
model is timed side by side (LiteRT, 1 thread).

    python benchmarks/policy_study.py          # 20k train images, 2 epochs (~30 min, 2 CPUs)
    python benchmarks/policy_study.py --smoke  # tiny model on noise, for tests

`python benchmarks/report.py` draws the curves into docs/policy_study.png.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved_medians, run_call, save_result  # noqa: E402
from _study import (  # noqa: E402
    accuracy,
    add_dataset_argument,
    cached_model,
    result_name,
    study_arguments,
    study_backbone,
    study_setup,
    train_cached,
)
from mexit_tf.converters.bundle_export import export_bundle  # noqa: E402
from mexit_tf.converters.stage_builder import build_stage_models  # noqa: E402
from mexit_tf.converters.tflite_conversion import convert_to_tflite  # noqa: E402

from mexit_tf.errors import MexitError  # noqa: E402
from mexit_tf.gating import calibrate_policy, policy_outcome  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402
from mexit_tf.runtime.litert_stage import LiteRTStage  # noqa: E402
from mexit_tf.training.qat_finetune import finetune_qat  # noqa: E402

POLICIES = ("confidence", "entropy", "margin", "patience")
TARGETS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)  # accuracy-loss targets, points


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    study_arguments(parser)
    add_dataset_argument(parser)
    parser.add_argument("--qat-epochs", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    study = study_setup(args)
    recipe, data, work, runs = study.recipe, study.data, study.work, study.runs
    num_layers, num_classes = study.num_layers, study.num_classes

    model, fit_seconds = train_cached(
        "every_block_mlp_ee",
        lambda: MultiExitModel(study_backbone(args.smoke),
                               exits={b: "mlp_ee" for b in range(1, num_layers)},
                               num_outputs=num_classes),
        data, recipe, work)
    seconds = {"multi-exit fit": fit_seconds}
    qat_settings = dict(epochs=args.qat_epochs, batch_size=recipe["batch_size"],
                        jit_compile=recipe["jit_compile"], run_eagerly=recipe["run_eagerly"],
                        seed=recipe["seed"])
    qat, seconds["QAT fit"] = cached_model(
        "every_block_mlp_ee_qat", {**recipe, "qat": qat_settings},
        lambda: _timed_qat(model, data, qat_settings), work)
    truncated = {}
    for depth in range(1, num_layers + 1):
        truncated[depth], seconds[f"truncated {depth} fit"] = train_cached(
            f"truncated_{depth}",
            lambda d=depth: MultiExitModel(study_backbone(args.smoke, d), exits={},
                                           num_outputs=num_classes),
            data, recipe, work)

    with tempfile.TemporaryDirectory(prefix="mexit-policy-") as folder:
        cascades = {}
        for name, source, quantize in (("float32", model, "float32"), ("int8", qat, "int8")):
            export_bundle(source, Path(folder) / name, (data.x_val, data.y_val),
                          quantize=quantize, latency_runs=runs, progress=False)
            cascades[name] = Cascade(Path(folder) / name, engine="interpreter")  # as truncated
        outputs = {name: {split: cascade.run_all(x, progress=False)[0]
                          for split, x in (("val", data.x_val), ("test", data.x_test))}
                   for name, cascade in cascades.items()}
        medians = _time_side_by_side(cascades, truncated, data.x_test[:1], runs)

    bundles = {}
    for name, cascade in cascades.items():
        stage_ms = [medians[f"{name} stage {k}"] for k in range(len(cascade.stages))]
        bundles[name] = _curves(outputs[name], data.y_val, data.y_test, stage_ms,
                                cascade.exit_names)
    baselines = {str(d): {"ms": round(medians[f"truncated {d}"], 4),
                          "test_accuracy": accuracy(_predict_final(m, data.x_test), data.y_test)}
                 for d, m in truncated.items()}
    result = {"data": data.describe(), "dataset": args.dataset, "recipe": recipe,
              "qat": qat_settings,
              "targets_points": list(TARGETS), "runs": runs, "threads": 1,
              "bundles": bundles, "truncated": baselines,
              "versus_smaller_models": versus_smaller_models(bundles, baselines),
              "seconds": seconds, "wall_seconds": round(time.perf_counter() - started, 1)}
    if not args.smoke:
        save_result(result_name("policy_study", args), result,
                    f"python benchmarks/policy_study.py --dataset {args.dataset} --train-images "
                    f"{args.train_images} --epochs {args.epochs} --qat-epochs {args.qat_epochs}",
                    recipe["seed"], note=args.note)
    print(result["versus_smaller_models"])
    return result


def _timed_qat(model, data, settings):
    qat, metrics = finetune_qat(model, data, verbose=0, **settings)
    return qat, metrics["train_seconds"]


def _predict_final(model, x):
    from mexit_tf.training.evaluation import predict_exits

    return predict_exits(model, x)["final"]


def _time_side_by_side(cascades: dict, truncated: dict, image, runs: int) -> dict:
    calls = {}
    x = image.astype("float32")
    for name, cascade in cascades.items():
        hidden = x
        for index, stage in enumerate(cascade.stages):
            calls[f"{name} stage {index}"] = run_call(stage, hidden)
            hidden = stage.run(hidden)[0].get("hidden")
    for depth, model in truncated.items():
        (stage,) = build_stage_models(model)
        calls[f"truncated {depth}"] = run_call(LiteRTStage(convert_to_tflite(stage)), x)
    return interleaved_medians(calls, runs)


def _curves(outputs, y_val, y_test, stage_ms, exit_names) -> dict:
    """Per policy, the calibrated operating points; plus each exit alone (static)."""
    cumulative = np.cumsum(stage_ms)
    final = float(np.mean(outputs["test"][-1].argmax(-1) == y_test))
    curves = {"stage_ms": [round(ms, 4) for ms in stage_ms], "final_exit_accuracy": final,
              "static": [{"exit": name, "ms": round(float(ms), 4),
                          "test_accuracy": accuracy(test, y_test)}
                         for name, ms, test in zip(exit_names, cumulative, outputs["test"],
                                                   strict=True)],
              "policies": {}}
    for kind in POLICIES:
        points = []
        for target in TARGETS:
            try:
                policy, report = calibrate_policy(kind, outputs["val"], y_val, stage_ms,
                                                  target_loss=target / 100)
            except MexitError:  # no setting meets this target on validation
                continue
            outcome = policy_outcome(policy, outputs["test"], y_test, stage_ms)
            points.append({"target_points": target, "mean_ms": round(outcome["mean_cost"], 4),
                           "test_accuracy": round(outcome["accuracy"], 4),
                           "test_loss_points": round(100 * (final - outcome["accuracy"]), 2),
                           "validation_accuracy": round(report["expected_accuracy"], 4),
                           "exit_histogram": outcome["exit_histogram"]})
        curves["policies"][kind] = points
    return curves


def versus_smaller_models(bundles: dict, baselines: dict) -> dict:
    """For each policy's points: does a truncated model at no more latency match it?"""
    summary = {}
    for name, curves in bundles.items():
        for kind, points in curves["policies"].items():
            wins = []
            for point in points:
                rivals = [b["test_accuracy"] for b in baselines.values()
                          if b["ms"] <= point["mean_ms"]]
                wins.append(not rivals or point["test_accuracy"] > max(rivals))
            summary[f"{name} {kind}"] = {"points_beating_every_faster_smaller_model": sum(wins),
                                         "of": len(wins)}
    return summary


if __name__ == "__main__":
    main()
