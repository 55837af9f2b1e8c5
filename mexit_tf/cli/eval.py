"""`mexit eval`: accuracy and latency of a bundle on the test split.

Examples:
    mexit eval bundles/fmnist
    mexit eval bundles/fmnist --limit 1000 --json
"""

import argparse
import json

from mexit_tf.cli.data_option import DATA_HELP, load_split


def add_parser(commands):
    parser = commands.add_parser("eval", help="evaluate a bundle on the test split",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("--data", default="fashion_mnist", help=DATA_HELP)
    parser.add_argument("--limit", type=int, help="evaluate the first N test images only")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.converters.cascade import Cascade

    cascade = Cascade(args.bundle, num_threads=args.threads)
    x, y, _, _ = load_split(args.data, "test", cascade.manifest["input"])
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    report = cascade.evaluate(x, y)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(report) -> str:
    metric = report.get("metric", "accuracy")
    lines = [f"{'exit':10s} {metric:>9s} {'stage ms':>9s} {'share':>7s}"]
    for name, value in report[f"exit_{metric}"].items():
        lines.append(f"{name:10s} {value:9.4f} {report['stage_latency_ms'][name]:9.4f} "
                     f"{report['exit_histogram'][name]:7.1%}")
    lines.append(f"policy {json.dumps(report['policy'])}: {metric} "
                 f"{report[f'policy_{metric}']:.4f}, mean {report['mean_latency_ms']:.4f} ms per "
                 f"image, {report['speedup_vs_all_stages']:.2f}x faster than running every stage "
                 f"({report['examples']} test images)")
    return "\n".join(lines)
