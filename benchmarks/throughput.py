"""Throughput (images/s): the batched cascade vs the batched all-stages run vs the batch-1
cascade, at batch sizes 1-256 and 1 and 2 threads, with the policy's accuracy beside each.

Candidates, timed in one shuffled alternation (`_common.interleaved_medians`, median over
--repeats passes over the same --images test images):

- `cascade_b1`: `Cascade.predict` image by image (today's runtime);
- `batched_cascade@B`: `BatchedCascade.predict_batch(images, batch_size=B)`: stage 0 on
  each batch of B, then each stage on the rows the policy has not accepted, compacted;
- `all_stages@B`: the same batches with `run_to_end=True`: every stage on every row
  (the batched model without early exits);
- `all_stages_b1`: `Cascade.predict(run_to_end=True)` image by image.

Every runner a batch size needs is prepared before timing (`BatchedCascade.prepare`;
its cost is reported apart). Also recorded: each stage's time per row at each batch
size (where throughput stops growing, this says why), and XNNPACK's partitions per
stage at batch 1 and at the largest batch.

    python benchmarks/throughput.py --bundle /tmp/qs1/bundle   # the quickstart (CPU preset)
    python benchmarks/throughput.py --smoke                    # tiny, for tests
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, interleaved_medians, save_result  # noqa: E402

from mexit_tf.atomic_files import write_json_atomic  # noqa: E402
from mexit_tf.runtime import Cascade  # noqa: E402
from mexit_tf.runtime.batched_cascade import BatchedCascade  # noqa: E402

BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def _accuracy(results, labels, names) -> float:
    return float(np.mean([r.label == names[int(y)] for r, y in zip(results, labels,
                                                                    strict=True)]))


def _exit_mix(results, stages: int) -> list[float]:
    counts = np.bincount([r.exit_index for r in results], minlength=stages)
    return [round(float(c) / len(results), 4) for c in counts]


def _stage_row_ms(batched: BatchedCascade, sizes, runs: int) -> dict:
    """Each stage's median time per row when run alone at each batch size (random inputs
    in the input's range, or N(0, 1) tokens)."""
    table = {}
    rng = np.random.default_rng(0)
    for stage in range(batched.num_stages):
        row = {}
        for size in sizes:
            runner = batched.runner(stage, size)
            for array in runner.inputs:
                array[...] = rng.uniform(0, 1, array.shape)
            runner.run()
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                runner.run()
                times.append((time.perf_counter() - started) * 1000.0)
            row[str(size)] = round(statistics.median(times) / size, 5)
        table[f"stage_{stage}"] = row
    return table


def measure(bundle, images, labels, batch_sizes, threads, repeats) -> dict:
    cascade = Cascade(bundle, num_threads=threads)
    batched = BatchedCascade(cascade, num_threads=threads)
    names = cascade.labels
    started = time.perf_counter()
    batched.prepare(max(batch_sizes))
    for size in batch_sizes:
        batched.prepare(size)
    prepare_s = time.perf_counter() - started
    count = len(images)
    candidates = {"cascade_b1": lambda: [cascade.predict(x) for x in images],
                  "all_stages_b1": lambda: [cascade.predict(x, run_to_end=True)
                                            for x in images]}
    for size in batch_sizes:
        candidates[f"batched_cascade@{size}"] = (
            lambda size=size: batched.predict_batch(images, batch_size=size))
        candidates[f"all_stages@{size}"] = (
            lambda size=size: batched.predict_batch(images, batch_size=size, run_to_end=True))
    # One untimed pass each: the answers (accuracy, exit mix) and a warm-up.
    answers = {name: call() for name, call in candidates.items()}
    medians = interleaved_medians(candidates, runs=repeats, warmup=0)
    rows = {}
    for name, ms in medians.items():
        rows[name] = {"images_per_s": round(count / (ms / 1000.0), 1),
                      "ms_per_pass": round(ms, 2),
                      "accuracy": round(_accuracy(answers[name], labels, names), 4),
                      "exit_mix": _exit_mix(answers[name], batched.num_stages)}
    base = rows["cascade_b1"]["images_per_s"]
    for size in batch_sizes:
        row = rows[f"batched_cascade@{size}"]
        row["vs_cascade_b1"] = round(row["images_per_s"] / base, 3)
        row["vs_all_stages_same_batch"] = round(
            row["images_per_s"] / rows[f"all_stages@{size}"]["images_per_s"], 3)
    same = all([r.exit_index for r in answers[f"batched_cascade@{size}"]] ==
               [r.exit_index for r in answers["cascade_b1"]] for size in batch_sizes)
    largest = max(batch_sizes)
    delegation = {f"stage_{k}": {"batch_1": batched.delegation(k, 1)["partitions"],
                                 f"batch_{largest}": batched.delegation(k, largest)["partitions"]}
                  for k in range(batched.num_stages)}
    result = {"threads": threads, "images": count, "repeats": repeats,
              "prepare_runners_s": round(prepare_s, 2), "runners": len(batched._runners),
              "unbatchable_stages": sorted(batched._unbatchable),
              "same_exits_as_batch_1": same, "candidates": rows,
              "stage_ms_per_row": _stage_row_ms(batched, sorted(set(batch_sizes)), 20),
              "xnnpack_partitions": delegation}
    batched.close()
    cascade.close()
    return result


def _smoke_bundle(folder: Path):
    from _common import smoke_model_and_data
    from mexit_tf.converters import export_bundle

    model, data = smoke_model_and_data()
    export_bundle(model, folder / "bundle", (data.x_val, data.y_val), data.class_names,
                  progress=False, latency_runs=3)
    return folder / "bundle", data.x_test, data.y_test


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default="/tmp/qs1/bundle",
                        help="a Fashion-MNIST bundle (the quickstart's: CPU preset)")
    parser.add_argument("--images", type=int, default=1000, help="test images per pass")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", help="write the result here instead of results/")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        if args.smoke:
            bundle, images, labels = _smoke_bundle(Path(folder))
            batch_sizes, threads, repeats = [1, 4, 16], [1], 1
            source = "smoke: untrained toy bundle, 8x8 noise"
        else:
            from mexit_tf.data import load_fashion_mnist

            data = load_fashion_mnist()
            bundle, repeats = Path(args.bundle), args.repeats
            images, labels = data.x_test[:args.images], data.y_test[:args.images]
            source = f"first {len(images)} Fashion-MNIST test images ({data.source})"
        per_threads = {str(t): measure(bundle, images, labels, batch_sizes, t, repeats)
                       for t in threads}
        with Cascade(bundle) as loaded:
            manifest_policy = loaded.policy.to_dict()
    result = {"smoke": args.smoke, "bundle": str(bundle), "data": source,
              "policy": manifest_policy, "batch_sizes": batch_sizes,
              "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()],
              "cpus": os.cpu_count(), "by_threads": per_threads}
    command = "throughput " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.out:
        write_json_atomic(Path(args.out), {"benchmark": "throughput", **result,
                                           "command": command})
    elif not args.smoke:
        save_result("throughput", result, command, note=args.note)
    for t, measured in per_threads.items():
        rows = measured["candidates"]
        print(f"threads {t}: cascade_b1 {rows['cascade_b1']['images_per_s']} img/s "
              f"(acc {rows['cascade_b1']['accuracy']}), all_stages_b1 "
              f"{rows['all_stages_b1']['images_per_s']}")
        for size in batch_sizes:
            b, a = rows[f"batched_cascade@{size}"], rows[f"all_stages@{size}"]
            print(f"  batch {size:>3}: batched cascade {b['images_per_s']:>8} img/s "
                  f"(x{b['vs_cascade_b1']} vs b1, x{b['vs_all_stages_same_batch']} vs all "
                  f"stages; acc {b['accuracy']})  all stages {a['images_per_s']:>8} img/s "
                  f"(acc {a['accuracy']})")
    return result


if __name__ == "__main__":
    main()
