"""`mexit export`: a trained model -> a bundle of per-exit TFLite stages + policy.

Examples:
    mexit export runs/fmnist/model.keras --out bundles/fmnist
    mexit export model.keras --out b --quantize float16 --target-loss 1.0
    mexit export model.keras --out b --budget-ms 0.8 --overwrite
    mexit export runs/qat/model.keras --out b8 --quantize int8        # QAT weights
    mexit export runs/fmnist/model.keras --out p8 --quantize int8 --ptq
    mexit export runs/qat/model.keras --out npu --quantize int8-static   # NPU/DSP targets
    mexit export model.keras --out b --exits exit_2,exit_4      # only these early exits
    mexit export model.keras --out b --exits-from-policy        # only the exits that pay

--exits-from-policy exports the model with all its exits, calibrates its policy on the
validation split, measures what each exit's head and stage boundary cost, and drops the
exits that do not pay for themselves (the rule is in the manifest's exit_placement); a
dropped exit's blocks run in the next kept stage. The policy is then calibrated again on
the pruned bundle.

--quantize int8 is the CPU int8 bundle: int8 weights (from QAT, or rounded from a float
model with --ptq) and activations quantized on the fly, so each stage runs inside
XNNPACK like float32 does. int8-static quantizes every tensor ahead of time, for NPUs
and DSPs; on a CPU it falls apart into many XNNPACK partitions (export warns).
"""

import argparse
import json
import sys
import warnings

from mexit_tf.cli.data_option import DATA_HELP, load_split, resolve_data
from mexit_tf.cli.shared import add_policy_options, print_calibration, target_fraction


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
    exits = parser.add_mutually_exclusive_group()
    exits.add_argument("--exits", metavar="NAMES",
                       help="early exits to keep, by name, comma-separated (e.g. exit_2,exit_4); "
                            "the final exit is always kept")
    exits.add_argument("--exits-from-policy", action="store_true",
                       help="keep only the exits the calibrated policy uses and that pay for "
                            "their head + stage boundary (measured)")
    parser.add_argument("--min-share", type=float, default=0.0, metavar="F",
                        help="with --exits-from-policy: also drop an exit the policy sends "
                             "fewer than this fraction of validation examples to, even if it "
                             "pays (default 0: an exit goes only when it does not pay)")
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
    from mexit_tf.converters.exit_placement import listed_placement, place_exits
    from mexit_tf.errors import MexitError
    from mexit_tf.models.exit_subset import keep_exits, parse_exit_list
    from mexit_tf.runtime.bundle_folder import check_replaceable_bundle
    from mexit_tf.runtime.delegation import FragmentationWarning

    target = target_fraction(args)
    if not 0 <= args.min_share < 1:
        raise MexitError(f"--min-share is a fraction of examples in [0, 1); received "
                         f"{args.min_share}.")
    check_replaceable_bundle(args.out, args.overwrite)  # before any work
    model = load_multi_exit_model(args.model)
    placement = None
    if args.exits is not None:
        placement = listed_placement(model, parse_exit_list(args.exits, model))
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
        if args.exits_from_policy:
            placement = place_exits(model, (x, y), args.policy, target, args.budget_ms,
                                    args.sigmas, args.quantize, args.ptq, args.min_share)
        if placement is not None:
            model = keep_exits(model, placement["kept"])
        manifest = export_bundle(model, args.out, (x, y), known or labels, args.quantize,
                                 args.policy, target, args.budget_ms, args.overwrite,
                                 source=source, ptq=args.ptq, sigmas=args.sigmas,
                                 data_record=_record_for(record, spec),
                                 exit_placement=placement)
    for warning in caught:
        if issubclass(warning.category, FragmentationWarning):
            print(f"mexit export: warning: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        if placement is not None:
            print_placement(placement)
        print_calibration(manifest)
        mode = args.quantize + (f" from {manifest['int8_from'].upper()}"
                                if manifest.get("int8_from") else "")
        print(f"wrote bundle {args.out} ({len(manifest['stages'])} stages, {mode})")
    return 0


def print_placement(placement) -> None:
    """Which exits were dropped, with the measured figures that decided it."""
    print(f"exits kept: {', '.join(placement['kept'])}")
    for drop in placement["dropped"]:
        if "share" not in drop:
            print(f"  dropped {drop['exit']} (after block {drop['after_block']}): "
                  f"{drop['reason']}")
            continue
        print(f"  dropped {drop['exit']} (after block {drop['after_block']}): share "
              f"{drop['share']:.3f}, reach {drop['reach']:.3f}, head + boundary "
              f"{drop['head_ms']:.4f} ms; mean {drop['mean_ms_with']:.4f} -> "
              f"{drop['mean_ms_without']:.4f} ms ({drop['reason']})")
    if placement["chosen_by"] == "policy":
        measured = placement["measured"]
        heads = ", ".join(f"{name} {ms:.4f}" for name, ms in
                          zip(measured["exits"], measured["head_ms"], strict=False))
        print(f"  head + boundary ms ({measured['engine']}, median of {measured['runs']}): "
              f"{heads}")


def _record_for(record, spec):
    """The data source for the manifest: the model's record when --data names it."""
    from mexit_tf.cli.data_option import data_spec

    if record and data_spec(record) == spec:
        return record
    return {"kind": spec.partition(":")[0], "path": spec.partition(":")[2] or None}
