"""`mexit quickstart`: the whole path on Fashion-MNIST in a few minutes on a CPU.

Trains the `fashion_mnist_cpu` preset briefly, exports a float32 bundle with a
confidence policy calibrated on the validation split (0.5 points target),
evaluates it on the test split, and writes a plot of accuracy vs latency.

Examples:
    mexit quickstart
    mexit quickstart --epochs 7 --out runs/quickstart-full
"""

import argparse
import json
from pathlib import Path


def add_parser(commands):
    parser = commands.add_parser("quickstart", help="train, export, calibrate and evaluate",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/quickstart", help="output folder")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (preset: 7)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a bundle left by an earlier quickstart")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny model and data subset: checks the path in about a minute")
    parser.set_defaults(run=run)


def run(args) -> int:
    from converters.bundle_export import export_bundle
    from converters.cascade import Cascade
    from converters.tradeoff_plot import plot_tradeoff
    from mexit_tf.atomic_files import write_json_atomic
    from mexit_tf.cli.eval import format_report
    from mexit_tf.configs import get_preset
    from mexit_tf.training.trainer import load_dataset, train_from_config

    out = Path(args.out)
    bundle = out / "bundle"
    if bundle.exists() and not args.overwrite:
        from mexit_tf.errors import MexitError

        raise MexitError(f"{bundle} exists from an earlier run; pass --overwrite or --out.")
    config = get_preset("fashion_mnist_cpu", smoke=args.smoke)
    config["epochs"] = 1 if args.smoke else args.epochs
    data = load_dataset(config)
    print(f"[1/4] training {config['vit']} with exits after blocks "
          f"{sorted(config['exits'])} for {config['epochs']} epoch(s) on {data.describe()}")
    train_from_config(config, out, data=data)
    print("[2/4] exporting and calibrating the bundle (validation split)")
    manifest = export_bundle(out / "model.keras", bundle, (data.x_val, data.y_val),
                             data.class_names, overwrite=args.overwrite,
                             source=f"{data.source}, validation split")
    print("[3/4] evaluating on the test split with LiteRT")
    cascade = Cascade(bundle)
    outputs, latencies = cascade.run_all(data.x_test)
    from converters.cascade import summarize

    report = summarize(outputs, latencies, data.y_test, cascade.policy, cascade.exit_names)
    write_json_atomic(out / "eval.json", report)
    print(format_report(report))
    print("[4/4] plotting accuracy vs latency")
    plot = out / "tradeoff.png"
    plot_tradeoff(outputs, data.y_test, [s["cost"]["latency_ms"] for s in manifest["stages"]],
                  cascade.exit_names, plot, cascade.policy,
                  title=f"Fashion-MNIST test, {config['epochs']} epoch(s), float32 bundle")
    print(json.dumps({"bundle": str(bundle), "plot": str(plot), "eval": str(out / "eval.json")},
                     indent=2))
    return 0
