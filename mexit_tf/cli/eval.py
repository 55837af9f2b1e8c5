"""`mexit eval`: accuracy and latency of a bundle on the test split.

Examples:
    mexit eval bundles/fmnist
    mexit eval bundles/fmnist --limit 1000 --json
"""

import argparse
import json

from mexit_tf.cli.arguments import positive_int
from mexit_tf.cli.data_option import DATA_HELP, load_split, resolve_data
from mexit_tf.cli.export import rounded


def add_parser(commands):
    parser = commands.add_parser("eval", help="evaluate a bundle on the test split",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle folder (from mexit export)")
    parser.add_argument("--data", help=DATA_HELP + "; a folder holding some of the bundle's "
                        "classes is evaluated on those, matched by name")
    parser.add_argument("--limit", type=positive_int, metavar="N",
                        help="evaluate the first N test examples only")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="LiteRT CPU threads per stage (default 1)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.runtime.cascade import Cascade

    cascade = Cascade(args.bundle, num_threads=args.threads)
    manifest = cascade.manifest
    record = manifest.get("data")
    spec = resolve_data(args.data, record, "eval")
    x, y, _, source = load_split(spec, "test", manifest["input"], manifest["labels"],
                                 allow_subset=True, record=record, command="eval")
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    report = {"data_source": source, **cascade.evaluate(x, y)}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_report(report) -> str:
    metric = report.get("metric", "accuracy")
    lines = [f"{'exit':10s} {metric:>9s} {'stage ms':>9s} {'share':>7s}"]
    for name, value in report[f"exit_{metric}"].items():
        lines.append(f"{name:10s} {value:9.4f} {report['stage_latency_ms'][name]:9.4f} "
                     f"{report['exit_histogram'][name]:7.1%}")
    wall = report.get("wall_ms")
    waited = (f"{wall['mean']:.4f} ms per image to wait for (p99 {wall['p99']:.4f}; stages "
              f"alone {report['mean_latency_ms']:.4f})" if wall else
              f"mean {report['mean_latency_ms']:.4f} ms per image")
    lines.append(f"policy {json.dumps(rounded(report['policy']))}: {metric} "
                 f"{report[f'policy_{metric}']:.4f}, {waited}, "
                 f"{report['speedup_vs_all_stages']:.2f}x faster than running every stage "
                 f"({report['examples']} test examples)")
    if report.get("data_source"):
        lines.append(f"data: {report['data_source']}")
    return "\n".join(lines)
