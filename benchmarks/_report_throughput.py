"""docs/benchmarks.md's throughput section and its plot, from results/throughput.json."""

import math

from _report_common import provenance, table


def _accuracy(value) -> str:
    return "n/a (random init)" if value is None else f"{value:.4f}"


def _best(by_threads: dict, batch_sizes) -> tuple[str, int, dict]:
    """(threads, batch size, row) of the batched cascade's highest throughput."""
    return max(((threads, size, measured["candidates"][f"batched_cascade@{size}"])
                for threads, measured in by_threads.items() for size in batch_sizes),
               key=lambda item: item[2]["images_per_s"])


def _rate_note(name: str, config: dict, core_gflops: float) -> str:
    """A stage's arithmetic rate at batch 1 against the core's matmul rate: how much room
    batching has on one thread."""
    measured = config["by_threads"].get("1")
    if not measured or not measured.get("stage_multiply_adds"):
        return ""
    stage = 1 if len(measured["stage_multiply_adds"]) > 1 else 0
    per_row = measured["stage_ms_per_row"][f"stage_{stage}"]
    macs = measured["stage_multiply_adds"][stage]
    sizes = sorted(per_row, key=int)
    at_1, best = per_row[sizes[0]], min(per_row.values())
    rate = 2 * macs / (at_1 / 1000.0) / 1e9
    if "int8" in name:  # int8 weights, activations quantized on the fly: other arithmetic
        said = f"{rate:.0f} G operations/s on one thread (int8 kernels)"
    else:
        said = f"{rate:.0f} GFLOP/s on one thread" + (
            f" ({rate / core_gflops:.2f}x the core's float32 matmul rate measured in the same "
            f"run, OpenBLAS 1024x1024, {core_gflops:.0f} GFLOP/s)" if core_gflops else "")
    return (f"*{name}*: stage {stage} ({macs / 1e6:.1f} M multiply-adds per image) takes "
            f"{at_1:.4f} ms at batch 1, i.e. {said}"
            + f"; its best time per image at any batch size is {best:.4f} ms "
            f"({at_1 / best:.2f}x less), at batch "
            f"{min(per_row, key=per_row.get)}; at batch {sizes[-1]}: {per_row[sizes[-1]]:.4f} ms.")


def throughput_section(result: dict) -> list[str]:
    lines = ["## Throughput: batched early exit", "",
             "Images/s over the same test images: *batched cascade @B* "
             "(`Cascade.predict_batch`, batches of B: stage 0 on every row, each later stage "
             "on the rows the policy has not accepted, compacted), *all stages @B* (the same "
             "batches run to the end: the batched model without early exits), *batch-1 "
             "cascade* (`Cascade.predict` image by image, today's runtime) and *all stages "
             "batch 1*. One shuffled alternation per configuration and thread count, medians "
             "of the passes; every runner prepared before timing. The policy's accuracy is "
             "beside each (identical exits at every batch size: "
             + ("yes" if all(m["same_exits_as_batch_1"] for c in result["configs"].values()
                             for m in c["by_threads"].values()) else "NO") + ").", "",
             "![throughput](throughput.png)", ""]
    for name, config in result["configs"].items():
        lines += [f"### {name}", "", f"Bundle: {config['bundle']}; data: {config['data']}; "
                  f"policy: {config['policy']['type']}.", ""]
        rows = []
        for threads, measured in config["by_threads"].items():
            candidates = measured["candidates"]
            b1 = candidates["cascade_b1"]
            rows.append((threads, "batch-1 cascade", b1["images_per_s"], "1.00x", "",
                         _accuracy(b1["accuracy"])))
            rows.append((threads, "all stages, batch 1",
                         candidates["all_stages_b1"]["images_per_s"], "", "",
                         _accuracy(candidates["all_stages_b1"]["accuracy"])))
            for size in config["batch_sizes"]:
                row = candidates[f"batched_cascade@{size}"]
                every = candidates[f"all_stages@{size}"]
                rows.append((threads, f"batched cascade @{size}", row["images_per_s"],
                             f"{row['vs_cascade_b1']:.2f}x",
                             f"{every['images_per_s']} ({row['vs_all_stages_same_batch']:.2f}x)",
                             _accuracy(row["accuracy"])))
        lines += table(["threads", "candidate", "images/s", "vs batch-1 cascade (same threads)",
                         "all stages @B images/s (batched cascade's ratio)", "accuracy"], rows)
        threads, size, best = _best(config["by_threads"], config["batch_sizes"])
        one_thread_b1 = config["by_threads"].get("1", {}).get("candidates", {}).get("cascade_b1")
        against = (f", {best['images_per_s'] / one_thread_b1['images_per_s']:.2f}x the batch-1 "
                   f"cascade on one thread" if one_thread_b1 else "")
        partitions = {stage: p for stage, p in
                      next(iter(config["by_threads"].values()))["xnnpack_partitions"].items()}
        lines += ["", f"Best: batch {size} on {threads} thread(s), {best['images_per_s']} "
                  f"images/s ({best['vs_cascade_b1']:.2f}x the batch-1 cascade on as many "
                  f"threads{against}). XNNPACK partitions per stage (batch 1 / largest batch): "
                  + ", ".join(f"{stage} {'/'.join(str(v) for v in p.values())}"
                              for stage, p in partitions.items()) + ".", ""]
    notes = [_rate_note(name, config, result.get("core_matmul_gflops"))
             for name, config in result["configs"].items()]
    lines += ["Why batching buys little on one thread (time per image of one stage run alone "
              "at each batch size, and the arithmetic rate it reaches at batch 1):", ""]
    lines += [f"- {note}" for note in notes if note]
    timing = result.get("eval_timing")
    if timing:
        report = timing["batched_report"]
        lines += ["", "`mexit eval` on the quickstart bundle's whole test split "
                  f"({timing['examples']} images), end to end in a fresh process each, the "
                  f"commit before batching (`{timing['old_tree']}`) and this one alternated "
                  f"{len(timing['all_seconds']['old'])} times: {timing['seconds']['old']} s "
                  f"before, {timing['seconds']['batched']} s now "
                  f"({timing['seconds']['batched'] / timing['seconds']['old']:.3f} of the time); "
                  f"per-exit table "
                  + ("identical" if timing["same_per_exit_table"] else "DIFFERENT") +
                  f". It now reports throughput {report['throughput']['images_per_s']} images/s "
                  f"under the policy (batches of {report['throughput']['batch_size']}, "
                  f"{report['throughput']['threads']} threads) and per-image latency at batch 1 "
                  f"on {report['latency_sample']['examples']} images "
                  f"(wall clock {report['wall_ms']['mean']} ms, p99 {report['wall_ms']['p99']})."]
    return lines + ["", provenance(result), ""]


def plot_throughput(result: dict, path) -> None:
    """One panel per configuration: images/s against batch size, per thread count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = result["configs"]
    columns = min(2, len(configs))
    rows = math.ceil(len(configs) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4 * rows), dpi=110,
                             squeeze=False)
    for ax, (name, config) in zip(axes.flat, configs.items(), strict=False):
        sizes = config["batch_sizes"]
        for (threads, measured), color in zip(config["by_threads"].items(),
                                              ("tab:blue", "tab:orange", "tab:green"),
                                              strict=False):
            candidates = measured["candidates"]
            ax.plot(sizes, [candidates[f"batched_cascade@{s}"]["images_per_s"] for s in sizes],
                    "o-", color=color, label=f"batched cascade, {threads} thread(s)")
            ax.plot(sizes, [candidates[f"all_stages@{s}"]["images_per_s"] for s in sizes],
                    "s:", color=color, alpha=0.7, label=f"all stages batched, {threads}")
            ax.axhline(candidates["cascade_b1"]["images_per_s"], color=color, ls="--",
                       alpha=0.7, label=f"batch-1 cascade, {threads}")
        ax.set_xscale("log", base=2)
        ax.set_title(name)
        ax.set_xlabel("batch size")
        ax.set_ylabel("images / s")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    for ax in list(axes.flat)[len(configs):]:
        ax.axis("off")
    fig.suptitle("Batched early exit: throughput by batch size (LiteRT CPU)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
