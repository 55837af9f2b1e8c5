"""Regenerates docs/benchmarks.md from benchmarks/results/*.json.

    python benchmarks/report.py
    python benchmarks/report.py --record-training runs/fmnist/metrics.json \
        --command "mexit train --preset fashion_mnist_cpu --out runs/fmnist" --note "..."

`--record-training` copies a `mexit train` run's metrics.json into the results
(training is a CLI run, not a benchmark script, so its figures come from there).
"""

import json
from pathlib import Path

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _provenance(result):
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    machine = result["machine"]
    return (f"Command: `{result['command']}`  \nMachine: {machine['cpu_count']} CPUs "
            f"({machine['machine']}, {machine['system']}); {versions}.")


def _table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def training_section(result):
    lines = ["## Training step overhead (multi-exit vs backbone alone)", "",
             f"{result['preset']} on {tuple(result['image_shape'])} inputs, batch "
             f"{result['batch_size']}, an exit after every block, XLA on, median of "
             f"{result['repeats']} blocks of {result['steps']} steps, timed side by side.", ""]
    lines += _table(["model", "ms / step", "images / s", "ratio vs backbone"],
                    [(name, r["step_ms"], r["images_per_s"], r["ratio_vs_backbone"])
                     for name, r in result["rows"].items()])
    return lines + ["", _provenance(result), ""]


def training_run_section(result):
    lines = ["## CPU preset: per-exit accuracy (Fashion-MNIST, real data)", "",
             f"Data: {result['data']}. Time in `fit`: {result['train_seconds']} s "
             f"({result['note']}).", ""]
    lines += _table(["exit", "validation", "test"],
                    [(name, f"{result['validation'][name]:.4f}", f"{value:.4f}")
                     for name, value in result["test"].items()])
    return lines + ["", _provenance(result), ""]


def staged_section(result):
    lines = ["## Staged bundle vs monolithic model (float32, LiteRT, 1 thread)", "",
             "Every stage run in turn as the Python `Cascade` runs them (tokens handed on as "
             "buffer views, logits copied out) vs one "
             "model of the same backbone + final head, each exit an `mlp_ee` head. "
             f"{result['runs']} alternating runs per candidate in {result.get('trials', 1)} "
             "trials that each load fresh interpreters; the table gives the median ratio over "
             "trials and its range. Two diagnostics timed in the same alternation: *invoke "
             "only* runs the same stages with no Python copies; *bare split* cuts the plain "
             "model at the same blocks with no exit heads at all, which is what LiteRT "
             "charges for separate models. Target: ratio <= 1.05.", ""]
    lines += _table(["model", "monolithic ms", "all stages ms", "ratio (range)",
                     "invoke only", "bare split"],
                    [(f"{name} ({r['stages']} stages)", r["monolithic_ms"], r["staged_ms"],
                      _with_range(r, "ratio"), _with_range(r, "staged_invoke_ratio"),
                      _with_range(r, "bare_split_ratio"))
                     for name, r in result["rows"].items()])
    return lines + ["", _provenance(result), ""]


def _with_range(row, key):
    if f"{key}_range" not in row:
        return row.get(key, "")
    low, high = row[f"{key}_range"]
    return f"{row[key]} ({low}-{high})"


def int8_section(result):
    names = list(result["accuracy"]["keras_float32"])
    accuracy = result["accuracy"]
    lines = ["## int8: QAT vs post-training quantization vs float32", "",
             f"Data: {result['data']}. Float model: a `mexit train` run of the CPU preset "
             "(without label smoothing); QAT model: `mexit qat` on it, 1 epoch. Each bundle's "
             "policy was calibrated on its own stages' outputs (validation split, target "
             f"{result['target_loss_points']} points); figures on the test split.", ""]
    lines += _table(["exit", "Keras float32", "Keras QAT", "float32 bundle", "int8 QAT bundle",
                     "int8 PTQ bundle", "int8 QAT agreement with Keras QAT"],
                    [(n, f"{accuracy['keras_float32'][n]:.4f}", f"{accuracy['keras_qat'][n]:.4f}",
                      f"{accuracy['float32'][n]:.4f}", f"{accuracy['int8_qat'][n]:.4f}",
                      f"{accuracy['int8_ptq'][n]:.4f}",
                      f"{result['int8_qat_agreement_with_keras_qat'][n]:.4f}") for n in names])
    drops = result["max_exit_drop_points"]
    lines += ["", f"Largest per-exit drop vs the float model: int8 QAT {drops['int8_qat']} "
                  f"points, int8 PTQ {drops['int8_ptq']} points.", ""]
    lines += _table(["bundle", "bytes", "vs float32"],
                    [(n, result["bundle_bytes"][n], result["size_ratio_vs_float32"][n])
                     for n in result["bundle_bytes"]])
    lines += ["", "Per-stage latency (ms, LiteRT, medians of "
              f"{result['runs']} runs, the three bundles' stage k timed side by side):", ""]
    rows = []
    for threads, block in result["latency"].items():
        for name, values in block["stage_ms"].items():
            rows.append((threads, name, " / ".join(f"{v:.3f}" for v in values),
                         f"{sum(values):.3f}"))
        rows.append((threads, "int8 QAT / float32", " / ".join(
            f"{v:.2f}" for v in block["int8_qat_vs_float32_per_stage"]),
            block["int8_qat_vs_float32_total"]))
    lines += _table(["threads", "bundle", "stages", "sum"], rows)
    lines += ["", "Dynamic inference with each bundle's recalibrated confidence policy:", ""]
    lines += _table(["bundle", "test accuracy", "loss vs own final exit (points)", "mean ms",
                     "speed-up vs final-exit model", "speed-up vs all stages", "exit mix"],
                    [(n, r["test_accuracy"], r["loss_vs_own_final_exit_points"],
                      r["mean_latency_ms"], r["speedup_vs_final_exit_model"] or "",
                      r["speedup_vs_all_stages"],
                      " / ".join(f"{share:.0%}" for share in r["exit_histogram"]))
                     for n, r in result["dynamic_inference"].items()])
    return lines + ["", _provenance(result), ""]


def dynamic_section(result):
    lines = ["## Dynamic inference (float32 bundle, LiteRT, 1 thread)", "",
             f"{result['data']}. Target: at most {result['target_loss_points']} points below "
             f"the final exit on validation. Final-exit model (backbone + head, no exits): "
             f"{result['final_exit_model_ms']} ms, test accuracy "
             f"{result['final_exit_accuracy']:.4f}.", ""]
    lines += _table(["exit", "test accuracy", "cumulative ms"],
                    [(name, r["test_accuracy"], r["cumulative_ms"])
                     for name, r in result["exits"].items()])
    lines += [""] + _table(
        ["policy", "test accuracy", "loss (points)", "mean ms", "speed-up vs final-exit model",
         "exit mix"],
        [(name, r["test_accuracy"], r["test_loss_points"], r["mean_latency_ms"],
          f"{r['speedup_vs_final_exit_model']}x",
          " / ".join(f"{share:.0%}" for share in r["exit_histogram"]))
         for name, r in result["policies"].items()])
    lines += ["", "![accuracy vs latency](dynamic_inference_float32.png)", ""]
    return lines + [_provenance(result), ""]


def record_training(metrics_path, command, note):
    metrics = json.loads(Path(metrics_path).read_text())
    result = {key: metrics[key] for key in ("data", "validation", "test", "train_seconds",
                                            "versions", "machine", "config")}
    result.update(benchmark="training_run", command=command, note=note)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training_run.json").write_text(json.dumps(result, indent=2) + "\n")


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Regenerate docs/benchmarks.md")
    parser.add_argument("--record-training", metavar="METRICS_JSON")
    parser.add_argument("--command", default="mexit train --preset fashion_mnist_cpu")
    parser.add_argument("--note", default="")
    args = parser.parse_args(argv)
    if args.record_training:
        record_training(args.record_training, args.command, args.note)
    sections = ["# Benchmarks", "",
                "Every figure here is produced by a script in `benchmarks/`; rerun one, then "
                "`python benchmarks/report.py` to regenerate this page. Ratios are measured "
                "side by side in one run; times are medians.", ""]
    for name, render in (("training_run", training_run_section),
                         ("training_overhead", training_section),
                         ("staged_overhead", staged_section),
                         ("dynamic_inference", dynamic_section),
                         ("int8_quantization", int8_section)):
        result = _load(name)
        if result:
            sections += render(result)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(sections))
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
