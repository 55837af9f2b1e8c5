"""`mexit eval`: accuracy and latency of a bundle on the test split.

With --deadline-ms, each example is answered under that deadline (the
cascade runs the next stage only when its predicted time fits in what is
left): per deadline, accuracy, the share of answers that came late, mean and
p99 time, and where the answers came from.

Examples:
    mexit eval bundles/fmnist
    mexit eval bundles/fmnist --limit 1000 --json
    mexit eval bundles/fmnist --deadline-ms 0.5,1,2
"""

import argparse
import json

from mexit_tf.cli.arguments import positive_floats, positive_int
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
    parser.add_argument("--deadline-ms", type=positive_floats, metavar="D[,D2,...]",
                        help="answer every example within D ms (one report per deadline)")
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
    if args.deadline_ms:
        reports = [cascade.evaluate(x, y, deadline_ms=d) for d in args.deadline_ms]
        report = {"data_source": source, "deadlines": reports}
        print(json.dumps(report, indent=2) if args.json else format_deadlines(report))
        return 0
    report = {"data_source": source, **cascade.evaluate(x, y)}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def format_deadlines(report) -> str:
    rows = report["deadlines"]
    metric = rows[0]["metric"]
    names = list(rows[0]["exit_histogram"])
    lines = [f"{'deadline ms':>11s} {metric:>9s} {'late':>6s} {'mean ms':>8s} {'p99 ms':>8s}  "
             f"exit mix ({', '.join(names)})"]
    for row in rows:
        mix = " ".join(f"{share:.0%}" for share in row["exit_histogram"].values())
        lines.append(f"{row['deadline_ms']:11g} {row[metric]:9.4f} {row['miss_rate']:6.1%} "
                     f"{row['mean_ms']:8.4f} {row['p99_ms']:8.4f}  {mix}")
    lines.append(f"{rows[0]['examples']} test examples, one after another; data: "
                 f"{report['data_source']}")
    return "\n".join(lines)


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
