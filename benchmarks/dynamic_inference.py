"""Dynamic inference on Fashion-MNIST: calibrated policies vs the final-exit model.

Exports a float32 bundle of a trained model, calibrates each policy on the
validation split (target: 0.5 points below the final exit), and measures on
the test split: accuracy, exit mix, and mean per-image latency, where each
image costs the stages it needed. Stage and monolithic latencies are medians
of LiteRT runs (1 thread) taken side by side in this run.

    python benchmarks/dynamic_inference.py --model runs/fmnist/model.keras
    python benchmarks/dynamic_inference.py --smoke     # untrained tiny model, for tests
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, interleaved_medians, save_result, smoke_model_and_data  # noqa: E402
from mexit_tf.converters.bundle_export import export_bundle, load_multi_exit_model  # noqa: E402
from mexit_tf.converters.stage_builder import build_stage_models  # noqa: E402
from mexit_tf.converters.tflite_conversion import convert_to_tflite  # noqa: E402
from mexit_tf.converters.tradeoff_plot import tradeoff_points  # noqa: E402

from mexit_tf.gating import calibrate_policy, policy_outcome  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402
from mexit_tf.runtime.litert_stage import LiteRTStage  # noqa: E402

POLICIES = ("confidence", "entropy", "margin", "patience")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="trained .keras file")
    parser.add_argument("--target-loss", type=float, default=0.5, help="points")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--smoke", action="store_true")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        model, data = smoke_model_and_data()
        (x_val, y_val), (x_test, y_test) = (data.x_val, data.y_val), (data.x_test, data.y_test)
        source = data.source
        runs = 5
    else:
        from mexit_tf.data import load_fashion_mnist

        model = load_multi_exit_model(args.model)
        data = load_fashion_mnist()
        (x_val, y_val), (x_test, y_test) = (data.x_val, data.y_val), (data.x_test, data.y_test)
        source, runs = data.source, args.runs
    workdir = Path(tempfile.mkdtemp(prefix="mexit-bench-"))
    try:
        export_bundle(model, workdir / "bundle", (x_val, y_val), target_loss=args.target_loss / 100,
                      latency_runs=runs, progress=not args.smoke)
        # Stages timed beside a monolith on the Interpreter: one engine on both sides.
        cascade = Cascade(workdir / "bundle", engine="interpreter")
        val_outputs, _ = cascade.run_all(x_val, progress=not args.smoke)
        test_outputs, _ = cascade.run_all(x_test, progress=not args.smoke)
        mono_model = MultiExitModel(model.backbone, exits={}, num_outputs=model.num_outputs)
        (mono_stage,) = build_stage_models(mono_model)
        mono = LiteRTStage(convert_to_tflite(mono_stage))
        image = x_test[:1].astype("float32")
        inputs, hidden = [], image
        for stage in cascade.stages:
            inputs.append(hidden)
            hidden = stage.run(hidden)[0].get("hidden")
        candidates = {"monolithic": lambda: mono.run(image)}
        for index, stage in enumerate(cascade.stages):
            candidates[cascade.exit_names[index]] = (lambda s=stage, x=inputs[index]: s.run(x))
        medians = interleaved_medians(candidates, runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    stage_ms = [medians[name] for name in cascade.exit_names]
    mono_ms = medians["monolithic"]
    final_accuracy = float(np.mean(test_outputs[-1].argmax(-1) == y_test))
    exits = {name: {"test_accuracy": round(float(np.mean(o.argmax(-1) == y_test)), 4),
                    "cumulative_ms": round(float(np.sum(stage_ms[:i + 1])), 4)}
             for i, (name, o) in enumerate(zip(cascade.exit_names, test_outputs, strict=True))}
    policies, chosen = {}, None
    for kind in POLICIES:
        policy, report = calibrate_policy(kind, val_outputs, y_val, stage_ms,
                                          target_loss=args.target_loss / 100)
        outcome = policy_outcome(policy, test_outputs, y_test, stage_ms)
        policies[kind] = {
            "policy": policy.to_dict(),
            "validation_expected_loss_points": round(
                100 * (report["final_exit_accuracy"] - report["expected_accuracy"]), 3),
            "test_accuracy": round(outcome["accuracy"], 4),
            "test_loss_points": round(100 * (final_accuracy - outcome["accuracy"]), 3),
            "exit_histogram": outcome["exit_histogram"],
            "mean_latency_ms": round(outcome["mean_cost"], 4),
            "latency_vs_final_exit_model": round(outcome["mean_cost"] / mono_ms, 4),
            "speedup_vs_final_exit_model": round(mono_ms / outcome["mean_cost"], 3),
        }
        chosen = chosen or policy
        print(kind, policies[kind], flush=True)
    result = {"data": f"Fashion-MNIST test split ({len(y_test)}), calibrated on validation "
                      f"({len(y_val)}); source {source}" if not args.smoke else source,
              "target_loss_points": args.target_loss, "runs": runs, "threads": 1,
              "final_exit_model_ms": round(mono_ms, 4), "final_exit_accuracy": final_accuracy,
              "exits": exits, "policies": policies,
              # report.py draws docs/dynamic_inference_float32.png from these.
              "tradeoff": tradeoff_points(test_outputs, y_test, stage_ms, cascade.exit_names,
                                          chosen)}
    if not args.smoke:
        save_result("dynamic_inference", result,
                    f"python benchmarks/dynamic_inference.py --model {args.model}",
                    note=args.note)
    return result


if __name__ == "__main__":
    main()
