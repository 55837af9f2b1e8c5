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
size (where throughput stops growing, this says why), its multiply-adds (so the rate a
stage reaches at batch 1 can be set against the core's), and XNNPACK's partitions per
stage at batch 1 and at the largest batch.

Configurations: the quickstart bundle (CPU preset) in float32 and, with --int8-bundle,
CPU int8; with --ti16, a random-init ViT-Ti/16 at 224x224 (exits after blocks 3, 6, 9;
float32 and CPU int8 PTQ; synthetic images, so no accuracy) whose confidence policy is
set to send 55/25/12% of the images out at exits 1-3 (about the quickstart's mix).
With --eval-old-tree, `mexit eval` on the whole test split is timed end to end against
the `mexit eval` of another source tree (e.g. a checkout of the commit before batching),
alternating, and their per-exit tables compared.

    python benchmarks/throughput.py --bundle /tmp/qs1/bundle \
        --int8-bundle /tmp/qs1_int8 --ti16 --eval-old-tree /tmp/old   # the full study
    python benchmarks/throughput.py --smoke                           # tiny, for tests
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, interleaved_medians, save_result  # noqa: E402

from mexit_tf.atomic_files import write_json_atomic  # noqa: E402
from mexit_tf.gating import ConfidencePolicy, softmax  # noqa: E402
from mexit_tf.runtime import Cascade  # noqa: E402
from mexit_tf.runtime.batched_cascade import BatchedCascade  # noqa: E402

BATCH_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def _accuracy(results, labels, names) -> float | None:
    if labels is None:  # synthetic images: latency only
        return None
    return float(np.mean([r.label == names[int(y)] for r, y in zip(results, labels,
                                                                    strict=True)]))


def _rounded(value, digits=4):
    return None if value is None else round(value, digits)


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


def measure(bundle, images, labels, batch_sizes, threads, repeats, policy=None) -> dict:
    cascade = Cascade(bundle, num_threads=threads, policy=policy)
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
                      "accuracy": _rounded(_accuracy(answers[name], labels, names)),
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
    from mexit_tf.converters.tflite_inspection import multiply_adds

    macs = [multiply_adds(data) for data in batched._files]
    result = {"threads": threads, "images": count, "repeats": repeats,
              "stage_multiply_adds": macs,
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


def mix_policy(outputs, shares) -> ConfidencePolicy:
    """A confidence policy whose thresholds send about `shares[k]` of the images out at
    early exit k (the rest go on): a realistic exit mix for a model with no trained
    exits (random init), so that throughput can be measured at deployment size."""
    count = len(outputs[0])
    going_on, thresholds = np.ones(count, bool), []
    for logits, share in zip(outputs, shares, strict=False):
        scores = softmax(logits.astype(np.float64)).max(-1)
        ranked = np.sort(scores[going_on])[::-1]
        wanted = min(int(round(share * count)), len(ranked))
        threshold = float(ranked[wanted - 1]) if wanted else float("inf")
        thresholds.append(threshold)
        going_on &= scores < threshold
    return ConfidencePolicy(thresholds)


def ti16_bundles(folder: Path, smoke: bool, images: int) -> tuple[dict, np.ndarray]:
    """Random-init ViT-Ti/16 224x224 (exits after blocks 3, 6, 9), exported float32 and
    CPU int8 (PTQ): ({name: (bundle, policy)}, synthetic images)."""
    import keras
    from mexit_tf.converters import export_bundle

    import mexit_tf

    keras.utils.set_random_seed(0)
    if smoke:
        shape, backbone = (32, 32, 3), mexit_tf.ViTBackbone((32, 32, 3), 8, 16, 4, 2, 32)
    else:
        shape = (224, 224, 3)
        backbone = mexit_tf.ViTBackbone.from_preset("Ti/16", image_shape=shape)
    every = 1 if smoke else 3
    model = mexit_tf.MultiExitModel(
        backbone, exits={b: "mlp_ee" for b in range(every, backbone.num_layers, every)},
        num_outputs=10)
    rng = np.random.default_rng(0)
    calibration = (rng.integers(0, 256, (32, *shape)).astype("uint8"), rng.integers(0, 10, 32))
    pictures = rng.integers(0, 256, (images, *shape)).astype("uint8")
    bundles = {}
    for quantize in ("float32", "int8"):
        path = folder / f"ti16_{quantize}"
        if not (path / "manifest.json").exists():  # --work keeps them between runs
                export_bundle(model, path, calibration, quantize=quantize,
                          ptq=quantize == "int8", progress=False, latency_runs=5)
        with Cascade(path) as cascade:
            outputs, _ = cascade.run_all(pictures, progress=False)
        bundles[f"Ti/16 224x224 {quantize}"] = (path, mix_policy(outputs, [0.55, 0.25, 0.12]))
    return bundles, pictures


def core_matmul_gflops() -> float:
    """One core's float32 matrix-multiply rate (GFLOP/s, OpenBLAS via NumPy, 1 thread, in a
    child process so the thread setting holds): the yardstick for a stage's rate at batch 1."""
    code = ("import time, numpy as np\n"
            "a = np.random.rand(1024, 1024).astype('f4'); b = a.copy(); a @ b; t = []\n"
            "for _ in range(15):\n"
            "    s = time.perf_counter(); a @ b; t.append(time.perf_counter() - s)\n"
            "print(2 * 1024 ** 3 / sorted(t)[7] / 1e9)")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True)
    return round(float(done.stdout.strip()), 1)


def _mexit_eval(tree: str | None, bundle, limit, data) -> tuple[float, dict]:
    """Seconds of one `mexit eval BUNDLE --json` in a fresh process (from `tree`'s source
    if given), and its report."""
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = str(tree)
    command = [sys.executable, "-c", "import sys; from mexit_tf.cli.main import main; "
               "sys.exit(main(sys.argv[1:]))", "eval", str(bundle), "--json",
               *(["--limit", str(limit)] if limit else []), *(["--data", data] if data else [])]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True,
                          cwd=tree or None)
    return time.perf_counter() - started, json.loads(done.stdout)


def eval_timing(old_tree: str, bundle, repeats: int, limit=None, data=None) -> dict:
    """`mexit eval` end to end (fresh process each) of this tree vs `old_tree`,
    alternated in shuffled order; medians, and whether the per-exit tables agree."""
    import random

    times, reports = {"old": [], "batched": []}, {}
    order, shuffler = list(times), random.Random(0)
    for _ in range(repeats):
        shuffler.shuffle(order)
        for name in order:
            seconds, reports[name] = _mexit_eval(old_tree if name == "old" else None, bundle,
                                                 limit, data)
            times[name].append(seconds)
    old, new = reports["old"], reports["batched"]
    same = all(old[key] == new[key] for key in
               ("exit_accuracy", "exit_histogram", "policy_accuracy", "examples"))
    medians = {name: round(statistics.median(values), 2) for name, values in times.items()}
    return {"seconds": medians, "all_seconds": times,
            "ratio_batched_vs_old": round(medians["batched"] / medians["old"], 3),
            "same_per_exit_table": same, "examples": new["examples"],
            "old_tree": str(old_tree), "batched_report": {
                key: new[key] for key in ("throughput", "latency_sample", "wall_ms",
                                          "mean_latency_ms", "exit_accuracy")}}


def _print(name, measured, batch_sizes):
    for t, by_threads in measured.items():
        rows = by_threads["candidates"]
        print(f"{name}, threads {t}: cascade_b1 {rows['cascade_b1']['images_per_s']} img/s "
              f"(acc {rows['cascade_b1']['accuracy']}), all_stages_b1 "
              f"{rows['all_stages_b1']['images_per_s']}")
        for size in batch_sizes:
            b, a = rows[f"batched_cascade@{size}"], rows[f"all_stages@{size}"]
            print(f"  batch {size:>3}: batched cascade {b['images_per_s']:>8} img/s "
                  f"(x{b['vs_cascade_b1']} vs b1, x{b['vs_all_stages_same_batch']} vs all "
                  f"stages; acc {b['accuracy']})  all stages {a['images_per_s']:>8} img/s "
                  f"(acc {a['accuracy']})", flush=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default="/tmp/qs1/bundle",
                        help="a Fashion-MNIST bundle (the quickstart's: CPU preset)")
    parser.add_argument("--int8-bundle", help="the same model exported with --quantize int8")
    parser.add_argument("--images", type=int, default=1000, help="test images per pass")
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ti16", action="store_true",
                        help="also ViT-Ti/16 224x224 (random init), float32 and int8")
    parser.add_argument("--ti-images", type=int, default=128)
    parser.add_argument("--ti-batch-sizes", default="1,4,16,64,128")
    parser.add_argument("--work", help="keep the exported Ti/16 bundles here, for a rerun")
    parser.add_argument("--eval-old-tree", help="time `mexit eval` against this source tree's")
    parser.add_argument("--eval-repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", help="write the result here instead of results/")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    ti_sizes = [int(b) for b in args.ti_batch_sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    load_before = os.getloadavg()
    configs = {}
    with tempfile.TemporaryDirectory() as folder:
        if args.smoke:
            bundle, images, labels = _smoke_bundle(Path(folder))
            batch_sizes, ti_sizes, threads, repeats = [1, 4, 16], [1, 4], [1], 1
            source = "smoke: untrained toy bundle, 8x8 noise"
        else:
            from mexit_tf.data import load_fashion_mnist

            data = load_fashion_mnist()
            bundle, repeats = Path(args.bundle), args.repeats
            images, labels = data.x_test[:args.images], data.y_test[:args.images]
            source = f"first {len(images)} Fashion-MNIST test images ({data.source})"
        float_bundles = {"CPU preset float32": bundle}
        if args.int8_bundle:
            float_bundles["CPU preset int8"] = Path(args.int8_bundle)
        for name, path in float_bundles.items():
            with Cascade(path) as loaded:
                policy = loaded.policy.to_dict()
            configs[name] = {"bundle": str(path), "data": source, "policy": policy,
                             "batch_sizes": batch_sizes, "by_threads": {
                                 str(t): measure(path, images, labels, batch_sizes, t, repeats)
                                 for t in threads}}
            _print(name, configs[name]["by_threads"], batch_sizes)
        if args.ti16:
            work = Path(args.work) if args.work else Path(folder)
            work.mkdir(parents=True, exist_ok=True)
            bundles, pictures = ti16_bundles(work, args.smoke, args.ti_images)
            for name, (path, policy) in bundles.items():
                configs[name] = {
                    "bundle": "random-init ViT-Ti/16, exits after blocks 3, 6, 9",
                    "data": f"{len(pictures)} synthetic random images (latency only)",
                    "policy": policy.to_dict(), "batch_sizes": ti_sizes, "by_threads": {
                        str(t): measure(path, pictures, None, ti_sizes, t, repeats, policy)
                        for t in threads}}
                _print(name, configs[name]["by_threads"], ti_sizes)
        timing = (eval_timing(args.eval_old_tree, bundle, args.eval_repeats)
                  if args.eval_old_tree and not args.smoke else None)
    result = {"smoke": args.smoke, "configs": configs, "eval_timing": timing,
              "core_matmul_gflops": core_matmul_gflops(),
              "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()],
              "cpus": os.cpu_count()}
    command = "python benchmarks/throughput.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    if args.out:
        write_json_atomic(Path(args.out), {"benchmark": "throughput", **result,
                                           "command": command})
    elif not args.smoke:
        save_result("throughput", result, command, note=args.note)
    if timing:
        print(f"mexit eval: {timing['seconds']} s, batched/old {timing['ratio_batched_vs_old']}, "
              f"same table {timing['same_per_exit_table']}")
    return result


if __name__ == "__main__":
    main()
