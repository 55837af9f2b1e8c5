"""Deployment figures: bundle size per quantization mode, per-stage latency at 1 and 2
threads, and export and calibration wall time.

Exports the same trained model as a float32, float16, dynamic-range and int8
bundle (int8 from a QAT model when `--qat-model` is given, else post-training
from 200 validation images), each calibrated on the validation split. Export
time covers conversion, the parity check, latency measurement and calibration;
calibration alone is then timed again on the finished bundle. Stage latencies
of all four bundles are timed side by side (LiteRT, medians).

    python benchmarks/deployment.py --model runs/fmnist/model.keras \
        --qat-model runs/qat/model.keras
    python benchmarks/deployment.py --smoke       # untrained tiny model, for tests
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import (  # noqa: E402
    add_note_argument,
    interleaved_medians,
    run_call,
    save_result,
    smoke_model_and_data,
)
from mexit_tf.converters.bundle_export import calibrate_bundle, export_bundle, load_multi_exit_model  # noqa: E402

from mexit_tf.runtime.cascade import Cascade  # noqa: E402
from mexit_tf.runtime.litert_stage import LiteRTStage  # noqa: E402

MODES = ("float32", "float16", "dynamic", "int8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="trained float .keras file")
    parser.add_argument("--qat-model", help="QAT .keras file for the int8 bundle (else PTQ)")
    parser.add_argument("--runs", type=int, default=300, help="latency runs per stage")
    parser.add_argument("--smoke", action="store_true")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        model, data = smoke_model_and_data()
        qat, runs = None, 5
    else:
        from mexit_tf.data import load_fashion_mnist

        model, data, runs = load_multi_exit_model(args.model), load_fashion_mnist(), args.runs
        qat = load_multi_exit_model(args.qat_model) if args.qat_model else None
    calibration = (data.x_val, data.y_val)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="mexit-deploy-") as folder:
        for mode in MODES:
            bundle = Path(folder) / mode
            source = qat if mode == "int8" and qat is not None else model
            started = time.perf_counter()
            manifest = export_bundle(source, bundle, calibration, data.class_names,
                                     quantize=mode, ptq=mode == "int8" and qat is None,
                                     latency_runs=runs, progress=False)
            export_seconds = time.perf_counter() - started
            started = time.perf_counter()
            calibrate_bundle(bundle, *calibration, progress=False)
            rows[mode] = {
                "int8_from": manifest.get("int8_from"),
                "bytes": sum(stage["bytes"] for stage in manifest["stages"]),
                "export_seconds": round(export_seconds, 1),
                "calibration_seconds": round(time.perf_counter() - started, 1)}
            print(mode, rows[mode], flush=True)
        latency = {str(threads): _stage_latencies(Path(folder), threads, data.x_val[:1], runs)
                   for threads in (1, 2)}
    float_bytes = rows["float32"]["bytes"]
    for mode, row in rows.items():
        row["size_vs_float32"] = round(row["bytes"] / float_bytes, 3)
        for threads, per_mode in latency.items():
            row[f"stage_ms_{threads}_thread"] = per_mode[mode]
            row[f"total_ms_{threads}_thread"] = round(sum(per_mode[mode]), 4)
    result = {"data": data.describe(), "runs": runs, "calibration_examples": len(data.x_val),
              "model": args.model, "qat_model": args.qat_model, "modes": rows}
    if not args.smoke:
        command = f"python benchmarks/deployment.py --model {args.model}"
        if args.qat_model:
            command += f" --qat-model {args.qat_model}"
        save_result("deployment", result, command, note=args.note)
    return result


def _stage_latencies(folder: Path, threads: int, image, runs: int) -> dict:
    """Median ms of every stage of every bundle at `threads`, timed side by side."""
    calls = {}
    for mode in MODES:
        cascade = Cascade(folder / mode)
        hidden = cascade.prepare(image[0])
        for index, spec in enumerate(cascade.manifest["stages"]):
            stage = LiteRTStage(folder / mode / spec["file"], spec, num_threads=threads)
            calls[(mode, index)] = run_call(stage, hidden)
            hidden = stage.run(hidden)[0].get("hidden")
    medians = interleaved_medians(calls, runs)
    return {mode: [round(ms, 4) for (m, _), ms in medians.items() if m == mode]
            for mode in MODES}


if __name__ == "__main__":
    main()
