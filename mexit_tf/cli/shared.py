"""What several `mexit` commands share: policy options, and the reports they print.

Commands never import each other; what two of them need lives here.
"""

import json
import math
import sys

from mexit_tf.cli.arguments import positive_float


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
    # Two figures, each with its own name wherever it is printed: the stage time an image
    # needed (sum of measured stage times), and, from `mexit eval`, the wall clock a
    # caller waited for a whole `predict`.
    lines.append(f"policy {json.dumps(rounded(report['policy']))}: {metric} "
                 f"{report[f'policy_{metric}']:.4f}, stage time {report['mean_latency_ms']:.4f} "
                 f"ms per image, {report['speedup_vs_all_stages']:.2f}x less than every stage "
                 f"({report['examples']} test examples)")
    if wall:
        sample = report.get("latency_sample")
        measured = (f" (batch 1, {sample['threads']} thread(s), on {sample['examples']} of the "
                    f"examples)" if sample else "")
        lines.append(f"wall clock {wall['mean']:.4f} ms per image (p99 {wall['p99']:.4f}), "
                     f"{report['wall_clock_speedup']:.2f}x faster than running every stage"
                     f"{measured}")
    throughput = report.get("throughput")
    if throughput:
        lines.append(f"throughput {throughput['images_per_s']:.0f} images/s under the policy "
                     f"(first {throughput['examples']} examples), "
                     f"{throughput['all_stages_images_per_s']:.0f} images/s running every "
                     f"stage (batches of {throughput['batch_size']}, "
                     f"{throughput['threads']} thread(s))")
    if report.get("data_source"):
        lines.append(f"data: {report['data_source']}")
    return "\n".join(lines)
