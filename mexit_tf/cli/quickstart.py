"""`mexit quickstart`: the whole path on Fashion-MNIST in a few minutes on a CPU.

Trains the `fashion_mnist_cpu` preset briefly, exports a float32 bundle with a
confidence policy calibrated on the validation split (0.5 points target),
evaluates it on the test split, and writes a plot of accuracy vs latency.
With --int8 it then fine-tunes the model quantization-aware for one epoch,
exports an int8 bundle, recalibrates its policy on the int8 stages, and
evaluates that too.

Examples:
    mexit quickstart
    mexit quickstart --int8
    mexit quickstart --epochs 7 --out runs/quickstart-full
"""

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

from mexit_tf.cli.arguments import positive_int


def add_parser(commands):
    parser = commands.add_parser("quickstart", help="train, export, calibrate and evaluate",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/quickstart", help="output folder")
    parser.add_argument("--epochs", type=positive_int, default=1,
                        help="training epochs (default 1; the preset's full run is 7)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a bundle left by an earlier quickstart")
    parser.add_argument("--int8", action="store_true",
                        help="also QAT fine-tune and export, calibrate and evaluate an int8 "
                             "bundle")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model and data subset: checks the path in about a minute")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.configs import get_preset
    from mexit_tf.runtime.bundle_folder import check_replaceable_bundle
    from mexit_tf.training.run_folder import prepare_run_folder
    from mexit_tf.training.trainer import load_dataset, train_from_config

    started = time.monotonic()
    out = Path(args.out)
    bundles = [out / "bundle"] + ([out / "bundle_int8"] if args.int8 else [])
    for bundle in bundles:
        check_replaceable_bundle(bundle, args.overwrite)
    prepare_run_folder(out, overwrite=args.overwrite and out.exists())
    config = get_preset("fashion_mnist_cpu", smoke=args.smoke)
    config["epochs"] = 1 if args.smoke else args.epochs
    timings = {}
    with _timed(timings, "data"):
        data = load_dataset(config)
    steps = 6 if args.int8 else 4
    print(f"[1/{steps}] training {config['vit']} with exits after blocks "
          f"{sorted(config['exits'])} for {config['epochs']} epoch(s) on {data.describe()}")
    with _timed(timings, "training"):
        train_from_config(config, out, data=data)
    written = {"bundle": str(bundles[0])}
    written.update(_export_and_evaluate(out / "model.keras", bundles[0], data, "float32",
                                        args, (2, steps), config["epochs"], timings))
    if args.int8:
        from mexit_tf.converters.bundle_export import load_multi_exit_model
        from mexit_tf.training.qat_finetune import finetune_qat

        print(f"[5/{steps}] quantization-aware fine-tuning, 1 epoch")
        with _timed(timings, "qat"):
            finetune_qat(load_multi_exit_model(out / "model.keras"), data, out / "qat",
                         jit_compile=config.get("jit_compile", True),
                         batch_size=config["batch_size"])
        written["bundle_int8"] = str(bundles[1])
        written.update(_export_and_evaluate(out / "qat" / "model.keras", bundles[1], data,
                                            "int8", args, (6, steps), config["epochs"], timings))
    print(json.dumps(written, indent=2))
    # Process start-up (Python, TensorFlow) is outside `started`; the shell's `time` has it.
    print("time: " + ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in timings.items())
          + f"; total {time.monotonic() - started:.0f} s")
    return 0


@contextmanager
def _timed(timings: dict, phase: str):
    """Adds the seconds spent in the block to `timings[phase]` (phases repeat with --int8)."""
    started = time.monotonic()
    try:
        yield
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.monotonic() - started


def _export_and_evaluate(model_path, bundle, data, quantize, args, step, epochs,
                         timings) -> dict:
    """Export + calibrate (validation), evaluate (test), plot; returns the files written."""
    from mexit_tf.atomic_files import write_json_atomic
    from mexit_tf.cli.shared import format_report
    from mexit_tf.converters.bundle_export import export_bundle
    from mexit_tf.converters.tradeoff_plot import plot_tradeoff
    from mexit_tf.runtime.cascade import Cascade
    from mexit_tf.runtime.cascade_report import summarize

    first, steps = step
    suffix = "" if quantize == "float32" else f"_{quantize}"
    print(f"[{first}/{steps}] exporting a {quantize} bundle and calibrating it (validation split)")
    with _timed(timings, "export and calibration"):
        export_bundle(model_path, bundle, (data.x_val, data.y_val), data.class_names,
                      quantize=quantize, overwrite=args.overwrite,
                      source=f"{data.source}, validation split")
    if quantize == "float32":
        print(f"[{first + 1}/{steps}] evaluating on the test split with LiteRT")
    with _timed(timings, "evaluation"):
        cascade = Cascade(bundle)
        outputs, latencies = cascade.run_all(data.x_test)
        report = summarize(outputs, latencies, data.y_test, cascade.policy, cascade.exit_names)
        evaluation = Path(args.out) / f"eval{suffix}.json"
        write_json_atomic(evaluation, report)
        print(format_report(report))
    if quantize == "float32":
        print(f"[{first + 2}/{steps}] plotting accuracy vs latency")
    plot = Path(args.out) / f"tradeoff{suffix}.png"
    with _timed(timings, "plot"):
        # The stage times measured just now, as in the printed table: one latency source.
        plot_tradeoff(outputs, data.y_test,
                      [report["stage_latency_ms"][name] for name in cascade.exit_names],
                      cascade.exit_names, plot, cascade.policy,
                      title=f"Fashion-MNIST test, {epochs} epoch(s), {quantize} bundle")
    return {f"plot{suffix}": str(plot), f"eval{suffix}": str(evaluation)}
