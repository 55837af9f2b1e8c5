"""`mexit export`: a trained model -> a bundle of per-exit TFLite stages + policy.

Examples:
    mexit export runs/fmnist/model.keras --out bundles/fmnist
    mexit export model.keras --out b --quantize float16 --target-loss 1.0
    mexit export model.keras --out b --budget-ms 0.8 --overwrite
    mexit export runs/qat/model.keras --out b8 --quantize int8        # QAT weights
    mexit export runs/fmnist/model.keras --out p8 --quantize int8 --ptq
    mexit export runs/qat/model.keras --out npu --quantize int8-static   # NPU/DSP targets

--quantize int8 is the CPU int8 bundle: int8 weights (from QAT, or rounded from a float
model with --ptq) and activations quantized on the fly, so each stage runs inside
XNNPACK like float32 does. int8-static quantizes every tensor ahead of time, for NPUs
and DSPs; on a CPU it falls apart into many XNNPACK partitions (export warns).
"""

import argparse
import json
import math
import sys
import warnings

from mexit_tf.cli.arguments import positive_float
from mexit_tf.cli.data_option import DATA_HELP, load_split, resolve_data


def add_policy_options(parser):
    parser.add_argument("--policy",
                        help="confidence (default), entropy, margin, patience or budget; "
                             "regression: agreement (default), std or budget")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--target-loss", type=float, default=0.5, metavar="PTS",
                        help="max accuracy loss vs the final exit, in points (default 0.5)")
    target.add_argument("--budget-ms", type=positive_float, metavar="MS",
                        help="mean latency budget instead of an accuracy target")
    parser.add_argument("--sigmas", type=float, default=1.0, metavar="S",
                        help="standard errors of the validation loss estimate kept inside "
                             "the target, so it holds on new data (default 1; 0 = meet the "
                             "target exactly on validation)")


def target_fraction(args) -> float:
    """--target-loss in points, checked, as the fraction calibration takes."""
    from mexit_tf.errors import MexitError

    if args.budget_ms is not None and not args.budget_ms > 0:
        raise MexitError(f"--budget-ms must be > 0; received {args.budget_ms}.")
    if not 0 <= args.sigmas <= 10:
        raise MexitError(f"--sigmas must be between 0 and 10; received {args.sigmas}.")
    if not 0 <= args.target_loss < 100:
        raise MexitError(f"--target-loss is in accuracy points, 0 to 100; received "
                         f"{args.target_loss}.")
    return args.target_loss / 100.0


def add_parser(commands):
    parser = commands.add_parser("export", help="export a bundle (TFLite stages + policy)",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="trained .keras file (from mexit train or model.save)")
    parser.add_argument("--out", required=True,
                        help="bundle folder to create (with --overwrite: a bundle to replace)")
    parser.add_argument("--quantize", default="float32",
                        choices=["float32", "float16", "dynamic", "int8", "int8-static"],
                        help="float32 (default); int8 = CPU int8 (needs a QAT model from "
                             "mexit qat, or --ptq); int8-static = whole-int8 graph for "
                             "NPU/DSP targets; dynamic = int8 weights of a float model; "
                             "float16 = half-size weights")
    parser.add_argument("--ptq", action="store_true",
                        help="int8 by post-training quantization of a float model "
                             "(int8-static: calibrated on 200 validation images)")
    parser.add_argument("--data", help=DATA_HELP)
    add_policy_options(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing bundle (only a folder that mexit wrote)")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.converters.bundle_export import (
        export_bundle,
        load_multi_exit_model,
        model_input_spec,
    )
    from mexit_tf.errors import MexitError
    from mexit_tf.runtime.delegation import FragmentationWarning
    from mexit_tf.runtime.manifest import check_replaceable_bundle

    target = target_fraction(args)
    check_replaceable_bundle(args.out, args.overwrite)  # before any work
    model = load_multi_exit_model(args.model)
    record = model.data_source
    spec = resolve_data(args.data, record, "export")
    known = (record or {}).get("class_names")
    x, y, labels, source = load_split(spec, "validation", model_input_spec(model), known,
                                      record=record, command="export")
    if not model.is_regression and len(labels) != model.num_outputs:
        raise MexitError(f"The data has {len(labels)} classes ({', '.join(labels[:8])}); the "
                         f"model has {model.num_outputs} outputs.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FragmentationWarning)
        manifest = export_bundle(model, args.out, (x, y), known or labels, args.quantize,
                                 args.policy, target, args.budget_ms, args.overwrite,
                                 source=source, ptq=args.ptq, sigmas=args.sigmas,
                                 data_record=_record_for(record, spec))
    for warning in caught:
        if issubclass(warning.category, FragmentationWarning):
            print(f"mexit export: warning: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        print_calibration(manifest)
        mode = args.quantize + (f" from {manifest['int8_from'].upper()}"
                                if manifest.get("int8_from") else "")
        print(f"wrote bundle {args.out} ({len(manifest['stages'])} stages, {mode})")
    return 0


def _record_for(record, spec):
    """The data source for the manifest: the model's record when --data names it."""
    from mexit_tf.cli.data_option import data_spec

    if record and data_spec(record) == spec:
        return record
    return {"kind": spec.partition(":")[0], "path": spec.partition(":")[2] or None}


def rounded(value, digits: int = 4):
    """Floats in `value` (nested dicts and lists too) to `digits` significant digits,
    for what people read; JSON output keeps full precision."""
    if isinstance(value, float) and math.isfinite(value) and value:
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value


SMALL_CALIBRATION = 200  # examples; below this the estimate's error is worth saying


def print_calibration(manifest, command: str = "export"):
    report = manifest["calibration"]
    metric = "mae" if report.get("task") == "regression" else "accuracy"
    count = report["calibration_examples"]
    if count < SMALL_CALIBRATION:
        error = ""
        if metric == "accuracy":
            p = min(max(report["expected_accuracy"], 0.0), 1.0)
            error = (f"; the expected accuracy's standard error is "
                     f"{100 * math.sqrt(p * (1 - p) / count):.1f} points")
        print(f"mexit {command}: warning: calibrated on only {count} examples{error}. "
              f"Give a validation split of >= {SMALL_CALIBRATION} for a reliable policy.",
              file=sys.stderr)
    print(f"policy: {json.dumps(rounded(report['policy']))}")
    margin = (f" (loss + {report['sigmas']:g} standard error: "
              f"{report['expected_loss_upper_bound'] * (100 if metric == 'accuracy' else 1):.2f}"
              f"{' points' if metric == 'accuracy' else ''})" if report.get("sigmas") else "")
    print(f"calibrated on {report['calibration_examples']} validation examples: expected "
          f"{metric} {report[f'expected_{metric}']:.4f}{margin}, final exit "
          f"{report[f'final_exit_{metric}']:.4f}, expected speed-up "
          f"{report['expected_speedup']:.2f}x, exit mix {report['exit_histogram']}")
