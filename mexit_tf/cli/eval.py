"""`mexit eval`: accuracy, throughput and latency of a bundle on the test split.

One batched pass runs every stage on every example (the per-exit table and the
policy's outcome are what each example gets alone); throughput is measured in
batches under the policy; per-image latency is measured at batch 1 on a sample.

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
from mexit_tf.cli.shared import format_deadlines, format_report


def add_parser(commands):
    parser = commands.add_parser("eval", help="evaluate a bundle on the test split",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle folder (from mexit export)")
    parser.add_argument("--data", help=DATA_HELP + "; a folder holding some of the bundle's "
                        "classes is evaluated on those, matched by name")
    parser.add_argument("--limit", type=positive_int, metavar="N",
                        help="evaluate the first N test examples only")
    parser.add_argument("--threads", type=positive_int,
                        help="LiteRT CPU threads per stage (default: every core for the "
                        "batched pass, 1 for the batch-1 latency sample; N sets both)")
    parser.add_argument("--batch-size", type=positive_int, default=64, metavar="N",
                        help="rows per batch of the batched pass (default 64)")
    parser.add_argument("--latency-sample", type=positive_int, default=256, metavar="N",
                        help="examples timed one at a time for per-image latency (default 256)")
    parser.add_argument("--deadline-ms", type=positive_floats, metavar="D[,D2,...]",
                        help="answer every example within D ms (one report per deadline)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.runtime.cascade import Cascade

    cascade = Cascade(args.bundle, num_threads=args.threads or 1)
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
    from mexit_tf.runtime.cascade_report import evaluate_in_batches

    report = {"data_source": source,
              **evaluate_in_batches(cascade, x, y, batch_size=args.batch_size,
                                    num_threads=args.threads,
                                    latency_sample=args.latency_sample)}
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0
