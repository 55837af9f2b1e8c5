"""int8 bundles: QAT vs post-training quantization vs float32, on every exit.

Exports three bundles of one trained model: float32, int8 from QAT ranges
(`mexit qat`), and int8 by post-training quantization (PTQ, 200 validation
images). Each bundle's policy is calibrated on its own stages' outputs on the
validation split. Measured on the test split: per-exit accuracy, agreement of
the int8 stages with the QAT Keras model, bundle sizes, per-stage LiteRT
latency at 1 and 2 threads (medians, the three bundles timed side by side),
and dynamic inference with the recalibrated int8 policy.

    python benchmarks/int8_quantization.py --model runs/fmnist/model.keras \\
        --qat-model runs/qat/model.keras
    python benchmarks/int8_quantization.py --smoke     # tiny, for tests
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
from mexit_tf.converters.cascade import Cascade  # noqa: E402
from mexit_tf.converters.litert_stage import LiteRTStage  # noqa: E402
from mexit_tf.converters.stage_builder import build_stage_models  # noqa: E402
from mexit_tf.converters.tflite_conversion import convert_to_tflite  # noqa: E402

from mexit_tf.gating import policy_outcome  # noqa: E402
from mexit_tf.gating.exit_policy import ExitPolicy  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402
from mexit_tf.training.evaluation import exit_scores, predict_exits  # noqa: E402
from mexit_tf.training.qat_finetune import finetune_qat  # noqa: E402

BUNDLES = ("float32", "int8_qat", "int8_ptq")


def _final_exit_model(model):
    """The backbone and final head alone: the model without early exits."""
    return MultiExitModel(model.backbone, exits={}, num_outputs=model.num_outputs,
                          final_head=model.final_head)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="trained float .keras file")
    parser.add_argument("--qat-model", help="its `mexit qat` fine-tune (made here if absent)")
    parser.add_argument("--target-loss", type=float, default=0.5, help="points")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--smoke", action="store_true")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        model, data = smoke_model_and_data()
        qat, _ = finetune_qat(model, data, epochs=1, batch_size=16, verbose=0,
                              jit_compile=False)
        runs = 3
    else:
        from mexit_tf.data import load_fashion_mnist

        model = load_multi_exit_model(args.model)
        data = load_fashion_mnist()
        qat = (load_multi_exit_model(args.qat_model) if args.qat_model
               else finetune_qat(model, data)[0])
        runs = args.runs
    progress = not args.smoke
    workdir = Path(tempfile.mkdtemp(prefix="mexit-int8-"))
    try:
        sources = {"float32": (model, "float32", False), "int8_qat": (qat, "int8", False),
                   "int8_ptq": (model, "int8", True)}
        manifests, outputs, stage_files = {}, {}, {}
        for name, (source, quantize, ptq) in sources.items():
            manifests[name] = export_bundle(
                source, workdir / name, (data.x_val, data.y_val), quantize=quantize, ptq=ptq,
                target_loss=args.target_loss / 100, latency_runs=5, progress=progress)
            outputs[name], _ = Cascade(workdir / name).run_all(data.x_test, progress=progress)
            stage_files[name] = [(workdir / name / stage["file"]).read_bytes()
                                 for stage in manifests[name]["stages"]]
        monolithic = {"float32": convert_to_tflite(build_stage_models(
                          _final_exit_model(model))[0]),
                      "int8_qat": convert_to_tflite(build_stage_models(
                          _final_exit_model(qat))[0], "int8")}
        latency = {threads: _stage_latencies(stage_files, monolithic, data.x_test[:1], threads,
                                             runs) for threads in (1, 2)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result = _summarize(model, qat, data, manifests, outputs, latency, args.target_loss)
    result.update(runs=runs, data=data.describe() + (" (SMOKE: untrained, synthetic)"
                                                     if args.smoke else ""))
    if not args.smoke:
        save_result("int8_quantization", result,
                    f"python benchmarks/int8_quantization.py --model {args.model} "
                    f"--qat-model {args.qat_model}", note=args.note)
    print(result)
    return result


def _stage_latencies(stage_files, monolithic, image, threads, runs):
    """Median ms per stage of each bundle, all bundles' stage k timed side by side."""
    runners = {name: [LiteRTStage(data, num_threads=threads) for data in files]
               for name, files in stage_files.items()}
    medians = {name: [] for name in runners}
    hidden = image.astype("float32")
    for index in range(len(runners["float32"])):
        candidates = {name: (lambda s=stages[index], x=hidden: s.run(x))
                      for name, stages in runners.items()}
        for name, value in interleaved_medians(candidates, runs).items():
            medians[name].append(value)
        hidden = runners["float32"][index].run(hidden)[0].get("hidden")
    mono = {name: LiteRTStage(data, num_threads=threads) for name, data in monolithic.items()}
    x = image.astype("float32")
    mono_ms = interleaved_medians({name: (lambda m=m: m.run(x)) for name, m in mono.items()},
                                  runs)
    return {"stage_ms": medians, "final_exit_model_ms": mono_ms}


def _summarize(model, qat, data, manifests, outputs, latency, target_loss):
    y = np.asarray(data.y_test)
    names = model.exit_names
    keras_float = exit_scores(predict_exits(model, data.x_test), y)
    keras_qat_outputs = predict_exits(qat, data.x_test)
    accuracy = {"keras_float32": keras_float,
                "keras_qat": exit_scores(keras_qat_outputs, y)}
    for name in BUNDLES:
        accuracy[name] = {exit: float(np.mean(o.argmax(-1) == y))
                          for exit, o in zip(names, outputs[name], strict=True)}
    agreement = {exit: float(np.mean(o.argmax(-1) == keras_qat_outputs[exit].argmax(-1)))
                 for exit, o in zip(names, outputs["int8_qat"], strict=True)}
    sizes = {name: sum(stage["bytes"] for stage in manifests[name]["stages"])
             for name in BUNDLES}
    one = latency[1]
    dynamic = {}
    for name in BUNDLES:
        stage_ms = one["stage_ms"][name]
        policy = ExitPolicy.from_dict(manifests[name]["policy"])
        outcome = policy_outcome(policy, outputs[name], y, stage_ms)
        final = accuracy[name]["final"]
        mono_ms = one["final_exit_model_ms"].get(name)
        dynamic[name] = {
            "policy": policy.to_dict(),
            "test_accuracy": round(outcome["accuracy"], 4),
            "loss_vs_own_final_exit_points": round(100 * (final - outcome["accuracy"]), 3),
            "exit_histogram": outcome["exit_histogram"],
            "mean_latency_ms": round(outcome["mean_cost"], 4),
            "speedup_vs_final_exit_model": (round(mono_ms / outcome["mean_cost"], 3)
                                            if mono_ms else None),
            "speedup_vs_all_stages": round(float(np.sum(stage_ms)) / outcome["mean_cost"], 3),
        }
    return {
        "target_loss_points": target_loss,
        "accuracy": accuracy,
        "max_exit_drop_points": {
            name: round(100 * max(keras_float[e] - accuracy[name][e] for e in names), 3)
            for name in ("int8_qat", "int8_ptq")},
        "int8_qat_agreement_with_keras_qat": agreement,
        "bundle_bytes": sizes,
        "size_ratio_vs_float32": {name: round(sizes[name] / sizes["float32"], 4)
                                  for name in BUNDLES},
        "latency": {str(threads): {
            "stage_ms": {name: [round(v, 4) for v in values]
                         for name, values in result["stage_ms"].items()},
            "final_exit_model_ms": {k: round(v, 4)
                                    for k, v in result["final_exit_model_ms"].items()},
            "int8_qat_vs_float32_per_stage": [
                round(q / f, 3) for q, f in zip(result["stage_ms"]["int8_qat"],
                                                result["stage_ms"]["float32"], strict=True)],
            "int8_qat_vs_float32_total": round(sum(result["stage_ms"]["int8_qat"])
                                               / sum(result["stage_ms"]["float32"]), 3)}
            for threads, result in latency.items()},
        "dynamic_inference": dynamic,
        "qat": qat.quantization,
    }


if __name__ == "__main__":
    main()
