"""`mexit bench`: per-stage LiteRT latency of a bundle (median and p95 over runs), and how
each stage maps onto XNNPACK, LiteRT's CPU delegate (partitions, ops left outside).

Examples:
    mexit bench bundles/fmnist
    mexit bench bundles/fmnist --threads 2 --runs 500 --json
"""

import argparse
import json

import numpy as np

from mexit_tf.cli.arguments import positive_int


def add_parser(commands):
    parser = commands.add_parser("bench", help="time every stage of a bundle",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle folder (from mexit export)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="LiteRT CPU threads per stage (default 1)")
    parser.add_argument("--runs", type=positive_int, default=200,
                        help="timed runs per stage, after 10 warm-up runs (default 200)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.runtime.cascade import Cascade
    from mexit_tf.runtime.delegation import xnnpack_delegation

    cascade = Cascade(args.bundle, num_threads=args.threads)
    low, high = cascade.manifest["input"].get("value_range", [0.0, 255.0])
    x = np.random.default_rng(0).uniform(low, high, (1, *cascade.input_shape)).astype("float32")
    rows = {}
    for index, stage in enumerate(cascade.stages):
        for _ in range(10):
            stage.run(x)
        times = [stage.run(x)[1] for _ in range(args.runs)]
        file = cascade.bundle / cascade.manifest["stages"][index]["file"]
        rows[cascade.exit_names[index]] = {"median_ms": round(float(np.median(times)), 4),
                                           "p95_ms": round(float(np.percentile(times, 95)), 4),
                                           "xnnpack": xnnpack_delegation(file, args.threads)}
        x = stage.run(x)[0].get("hidden")
    total = sum(row["median_ms"] for row in rows.values())
    report = {"threads": args.threads, "runs": args.runs,
              "quantization": cascade.manifest["quantization"], "stages": rows,
              "all_stages_median_ms": round(total, 4)}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, row in rows.items():
            delegation = row["xnnpack"]
            outside = ", ".join(f"{op} x{n}" for op, n in delegation["ops_outside"].items())
            print(f"{name:10s} median {row['median_ms']:.4f} ms  p95 {row['p95_ms']:.4f} ms  "
                  f"XNNPACK: {delegation['partitions']} partition(s)"
                  + (f", outside: {outside}" if outside else ", every op inside"))
        print(f"all stages: {total:.4f} ms ({args.threads} thread(s), {args.runs} runs)")
    return 0
