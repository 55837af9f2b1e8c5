"""Reports on a cascade: what `Cascade.evaluate` and `mexit eval` print and write.

One schema for every report: `examples`, `metric` ("accuracy", or "mae" for regression)
and its value under the policy, `exit_histogram` (share of examples per exit name, in
stage order), and times in milliseconds. `summarize` adds per-exit scores, stage times
and `speedup_vs_all_stages` (stage time); `evaluate` adds `wall_ms` and
`wall_clock_speedup` (a whole `predict` against every stage); `deadline_summary` adds the
deadline, `miss_rate`, `stopped_by` and the latency model's state. `evaluate_in_batches`
reports what `evaluate` does, from one batched pass, with `throughput` beside it and the
batch-1 times measured on `latency_sample` examples.
"""

import time

import numpy as np
from tqdm.auto import tqdm

from mexit_tf.data.example_rows import example_at, example_count, take_rows
from mexit_tf.gating.calibration import example_errors, policy_outcome
from mexit_tf.gating.exit_policy import ExitPolicy
from mexit_tf.runtime.cascade import checked_deadline_ns


def evaluate(cascade, images, labels, policy: ExitPolicy | None = None,
             progress: bool = True, deadline_ms: float | None = None,
             run_to_end: bool = False) -> dict:
    """Per-exit accuracy, policy accuracy, exit histogram, latency and speed-up.

    Two latencies: `mean_latency_ms` sums, per image, the measured times of
    the stages it needed; `wall_ms` is what a caller waits for, each image
    timed around a whole `predict` call (policy decisions, handoffs, result
    included), mean and p99. `speedup_vs_all_stages` compares stage time
    (as `summarize`); `wall_clock_speedup` compares wall-clock times:
    `predict` vs every stage run in turn.

    With `deadline_ms`, every example is answered by `predict` under that
    deadline instead (real time, one after another) and the report is what
    the deadline cost: accuracy (MAE for regression), the miss rate, mean
    and p99 time, exit mix and why runs stopped (`deadline_report`).
    """
    if deadline_ms is not None:
        return deadline_report(cascade, images, labels, deadline_ms, policy, run_to_end, progress)
    outputs, latencies = cascade.run_all(images, progress)
    report = summarize(outputs, latencies, labels, policy or cascade.policy, cascade.exit_names,
                       cascade.task)
    report.update(_wall_report(cascade, images, policy or cascade.policy))
    return report


def evaluate_in_batches(cascade, images, labels, policy: ExitPolicy | None = None,
                        batch_size: int = 64, num_threads: int | None = None,
                        latency_sample: int = 256, throughput_sample: int = 2048,
                        progress: bool = True) -> dict:
    """`evaluate`'s report from one batched pass over every example (every stage, so the
    per-exit table and the policy's outcome are those of running each example alone),
    plus what batching buys and what one image costs, each named as what it is:

    - `throughput`: images/s of `predict_batch` under the policy on the first
      `throughput_sample` examples, and of the pass that ran every stage on all of them
      (batches of `batch_size`, `num_threads` LiteRT threads; default every core);
    - per-image latency at batch 1 (`stage_latency_ms`, `mean_latency_ms`, `wall_ms`,
      the speed-ups): the cascade's own batch-1 stages on `latency_sample` examples
      spread over the data, as `evaluate` measures them on all.
    """
    import os

    from mexit_tf.runtime.batched_cascade import BatchedCascade

    policy = policy or cascade.policy
    count = example_count(images)
    # No batch is larger than the data: preparing sizes it can never meet costs a load,
    # a check and XNNPACK's weight packing per stage and size (most of a small `eval`).
    batch_size = max(1, min(batch_size, count))
    threads = num_threads or os.cpu_count() or 1
    with BatchedCascade(cascade, num_threads=threads) as batched:
        batched.prepare(batch_size)  # load and check every runner before the clock starts
        started = time.perf_counter()
        outputs = batched.run_all(images, batch_size, progress)
        every_stage_s = time.perf_counter() - started
        sample = take_rows(images, np.arange(min(count, throughput_sample)))
        started = time.perf_counter()
        batched.predict_batch(sample, batch_size, policy)
        policy_s = time.perf_counter() - started
    rows = np.unique(np.linspace(0, count - 1, min(count, latency_sample)).round().astype(int))
    timed = take_rows(images, rows)
    _, latencies = cascade.run_all(timed, progress=False)
    stage_ms = np.median(latencies, axis=0)
    # Every example is charged the batch-1 median time of each stage it needed.
    report = summarize(outputs, np.broadcast_to(stage_ms, (count, len(stage_ms))), labels,
                       policy, cascade.exit_names, cascade.task)
    report.update(_wall_report(cascade, timed, policy))
    report["latency_sample"] = {"examples": len(rows),
                                "threads": getattr(cascade, "num_threads", 1)}
    report["throughput"] = {
        "batch_size": batch_size, "threads": threads,
        "images_per_s": round(example_count(sample) / policy_s, 1),
        "examples": example_count(sample),
        "all_stages_images_per_s": round(count / every_stage_s, 1),
    }
    return report


def deadline_report(cascade, images, labels, deadline_ms: float,
                    policy: ExitPolicy | None = None, run_to_end: bool = False,
                    progress: bool = True) -> dict:
    """Every example through `predict(deadline_ms=...)`, in order; what it cost."""
    checked_deadline_ns(deadline_ms)
    count = example_count(images)
    results = [cascade.predict(example_at(images, row), policy, deadline_ms, run_to_end)
               for row in tqdm(range(count), desc=f"deadline {deadline_ms} ms", unit="img",
                               disable=not progress, leave=False)]
    return deadline_summary(results, labels, deadline_ms, cascade.exit_names, cascade.task,
                            cascade.latency_model.to_dict())


def _wall_report(cascade, images, policy) -> dict:
    """`wall_ms` (mean, p99, all stages' mean) and `wall_clock_speedup` of `predict`."""
    wall, everything = _wall_times(cascade, images, policy)
    return {"wall_ms": {"mean": round(float(wall.mean()), 4),
                        "p99": round(float(np.percentile(wall, 99)), 4),
                        "all_stages_mean": round(float(everything.mean()), 4)},
            "wall_clock_speedup": round(float(everything.mean() / wall.mean()), 3)}


def _wall_times(cascade, images, policy) -> tuple[np.ndarray, np.ndarray]:
    """Milliseconds of one whole `predict` call per example, under `policy` and with
    every stage run, the two alternated example by example (after a warm-up)."""

    count = example_count(images)
    policies = (policy, _NeverStop(len(cascade.stages)))
    times = np.zeros((2, count))
    for row in [*range(min(count, 3)), *range(count)]:
        example = example_at(images, row)
        for which, chosen in enumerate(policies):
            started = time.perf_counter()
            cascade.predict(example, chosen)
            times[which, row] = (time.perf_counter() - started) * 1000.0
    return times[0], times[1]


class _NeverStop:
    """A stand-in policy that runs every stage: the wall clock of the whole chain."""

    def __init__(self, num_exits):
        self.num_exits = num_exits

    def should_stop(self, outputs) -> bool:
        return False


def deadline_summary(results, labels, deadline_ms, exit_names, task, latency_model) -> dict:
    """Accuracy (or MAE), miss rate, mean/p99 time and exit mix of answers under a deadline."""
    labels = np.asarray(labels).reshape(-1)
    outputs = np.stack([result.output for result in results])
    errors = example_errors(outputs, labels, task)
    elapsed = np.array([result.elapsed_ms for result in results])
    exits = np.bincount([r.exit_index for r in results], minlength=len(exit_names))
    metric = "mae" if task == "regression" else "accuracy"
    return {
        "deadline_ms": deadline_ms, "examples": len(results), "metric": metric,
        metric: round(float(errors.mean() if task == "regression" else 1 - errors.mean()), 5),
        "miss_rate": round(float(np.mean([not r.deadline_met for r in results])), 5),
        "mean_ms": round(float(elapsed.mean()), 4),
        "p99_ms": round(float(np.percentile(elapsed, 99)), 4),
        "exit_histogram": dict(zip(exit_names, np.round(exits / len(results), 5).tolist(),
                                   strict=True)),
        "stopped_by": {reason: sum(r.stopped_by == reason for r in results)
                       for reason in ("policy", "deadline", "last_stage")},
        "latency_model": latency_model,
    }


def summarize(outputs, latencies, labels, policy, exit_names, task="classification") -> dict:
    """What `Cascade.evaluate` reports; the metric is accuracy, or MAE for regression."""
    labels = np.asarray(labels).reshape(-1)
    stage_ms = np.median(latencies, axis=0)
    outcome = policy_outcome(policy, outputs, labels, stage_ms, task)
    per_image = np.cumsum(latencies, axis=1)[np.arange(len(labels)), outcome["exits"]]
    all_stages = latencies.sum(axis=1)
    metric = "mae" if task == "regression" else "accuracy"

    def score(o):
        errors = example_errors(o, labels, task).mean()
        return round(float(errors if task == "regression" else 1 - errors), 5)

    return {
        "examples": int(len(labels)), "metric": metric,
        f"exit_{metric}": {name: score(o) for name, o in zip(exit_names, outputs, strict=True)},
        "policy": policy.to_dict(),
        f"policy_{metric}": round(outcome[metric], 5),
        "exit_histogram": dict(zip(exit_names, outcome["exit_histogram"], strict=True)),
        "stage_latency_ms": dict(zip(exit_names, np.round(stage_ms, 4).tolist(), strict=True)),
        "mean_latency_ms": round(float(per_image.mean()), 4),
        "all_stages_latency_ms": round(float(all_stages.mean()), 4),
        "speedup_vs_all_stages": round(float(all_stages.mean() / per_image.mean()), 3),
    }
