"""Regenerates docs/benchmarks.md and its plots from benchmarks/results/*.json.

    python benchmarks/report.py
    python benchmarks/report.py --record-training runs/fmnist/metrics.json \
        --command "mexit train --preset fashion_mnist_cpu --out runs/fmnist" --note "..."

`--record-training` copies a `mexit train` run's metrics.json into the results
(training is a CLI run, not a benchmark script, so its figures come from there).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _plot_exit_placement import plot_exit_placement  # noqa: E402
from _plots import (  # noqa: E402
    plot_corruption_depth,
    plot_deadline_study,
    plot_exit_heads,
    plot_policy_study,
)
from _report_common import provenance as _provenance  # noqa: E402
from _report_common import recipe as _recipe  # noqa: E402
from _report_common import table as _table  # noqa: E402
from _report_corruption import corruption_depth_section  # noqa: E402
from _report_exit_placement import exit_placement_section  # noqa: E402
from _report_throughput import plot_throughput, throughput_section  # noqa: E402

from mexit_tf.atomic_files import write_json_atomic, write_text_atomic  # noqa: E402

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _load(name, results=RESULTS):
    path = Path(results) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


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
    # Its note is already in the text above.
    return lines + ["", _provenance({**result, "note": None}), ""]


def staged_section(result):
    lines = ["## Staged bundle vs monolithic model (float32, LiteRT, 1 thread)", "",
             "Every stage run in turn as the Python `Cascade` runs them (tokens handed on as "
             "buffer views, logits copied out) vs one "
             "model of the same backbone + final head, each exit an `mlp_ee` head. "
             f"{result['runs']} runs per candidate, alternating in an order shuffled every round, "
             f"in {result.get('trials', 1)} "
             "trials that each load fresh interpreters; the table gives the median ratio over "
             "trials and its range. Two diagnostics timed in the same alternation: *invoke "
             "only* runs the same stages with no Python copies; *bare split* cuts the plain "
             "model at the same blocks with no exit heads at all, which is what LiteRT "
             "charges for separate models. *CompiledModel* runs both on LiteRT's "
             "`CompiledModel` (the runtime's default), stage k's output buffer bound as stage "
             "k+1's input. *JVM* runs the same stage files through the Kotlin core's JVM "
             "runner (LiteRT's C API via JNI, android_demo/jvm) in its own process, the two "
             "chains alternated the same way. Targets: <= 1.02 at Ti/16 224x224 with exits "
             "after blocks 3/6/9, <= 1.05 otherwise.", ""]
    lines += _table(["model", "Interpreter: monolithic ms", "all stages ms", "ratio (range)",
                     "invoke only", "bare split", "CompiledModel: monolithic ms",
                     "all stages ms", "ratio (range)", "JVM: monolithic ms", "all stages ms",
                     "ratio (range)"],
                    [(f"{name} ({r['stages']} stages)", r["monolithic_ms"], r["staged_ms"],
                      _with_range(r, "ratio"), _with_range(r, "staged_invoke_ratio"),
                      _with_range(r, "bare_split_ratio"), r.get("monolithic_compiled_ms", ""),
                      r.get("staged_compiled_ms", ""), _with_range(r, "staged_compiled_ratio"),
                      r.get("jvm_monolithic_ms", ""), r.get("jvm_staged_ms", ""),
                      _with_range(r, "jvm_ratio"))
                     for name, r in result["rows"].items()])
    return lines + ["", _provenance(result), ""]


def _with_range(row, key):
    if f"{key}_range" not in row:
        return row.get(key, "")
    low, high = row[f"{key}_range"]
    return f"{row[key]} ({low}-{high})"


def _partitions(mode) -> str:
    """'2 / 2' partitions per stage, with the ops left outside XNNPACK in stage 0."""
    counts = " / ".join(str(stage["partitions"]) for stage in mode["stages"])
    outside = mode["stages"][0]["ops_outside"]
    return counts + (f" ({', '.join(f'{op} {n}' for op, n in outside.items())})"
                     if outside else "")


def int8_section(result):
    preset = result["cpu_preset"]
    lines = ["## Quantization modes side by side", "",
             "Every mode's chain of stages timed in one shuffled alternation (LiteRT, medians "
             f"of {result['runs']} runs at the CPU preset, half that at 224x224); partitions "
             "are XNNPACK partitions per stage, with the ops left outside stage 0. `int8` is "
             "the CPU int8 bundle (`--quantize int8`: int8 weights, activations quantized by "
             "the runtime); `int8-static` the whole-int8 graph for NPU/DSP targets; LiteRT "
             f"Quantizer {result.get('quantizer') or '(not installed)'} recipes were applied "
             "to the float32 stage files.", ""]
    for size in [key for key in result if key not in
                 ("cpu_preset", "runs", "target_loss_points", "qat", "quantizer", "command",
                  "seed", "note", "versions", "machine", "benchmark")]:
        block = result[size]
        lines += [f"**{block['model']}** (random init):", ""]
        base = {t: block["latency_ms"][t]["float32"] for t in block["latency_ms"]}
        lines += _table(["mode", "1 thread ms", "vs float32", "2 threads ms", "vs float32",
                         "partitions per stage", "MB", "size vs float32"],
                        [(name, f"{block['latency_ms']['1'][name]:.2f}",
                          f"{block['latency_ms']['1'][name] / base['1']:.2f}",
                          f"{block['latency_ms']['2'][name]:.2f}",
                          f"{block['latency_ms']['2'][name] / base['2']:.2f}",
                          _partitions(mode), f"{mode['bytes'] / 1e6:.2f}",
                          f"{mode['bytes'] / block['modes']['float32']['bytes']:.2f}")
                         for name, mode in block["modes"].items()])
        lines.append("")
    lines += [f"**CPU preset** (XS/4, 28x28, trained): {preset['data']}. Each bundle's "
              f"policy recalibrated on its own stages (validation, target "
              f"{result['target_loss_points']} points); accuracy on the test split.", ""]
    base = {t: preset["latency_ms"][t]["float32"] for t in preset["latency_ms"]}
    names = list(preset["accuracy"]["keras float32"])
    lines += _table(["mode", "1 thread ms", "vs float32", "2 threads ms", "vs float32",
                     "partitions per stage", "KB", "worst exit drop (points)",
                     *[f"{n} acc" for n in names]],
                    [(name, f"{preset['latency_ms']['1'][name]:.3f}",
                      f"{preset['latency_ms']['1'][name] / base['1']:.2f}",
                      f"{preset['latency_ms']['2'][name]:.3f}",
                      f"{preset['latency_ms']['2'][name] / base['2']:.2f}",
                      _partitions(mode), f"{mode['bytes'] / 1e3:.0f}",
                      preset["max_exit_drop_points"][name],
                      *[f"{preset['accuracy'][name][n]:.4f}" for n in names])
                     for name, mode in preset["modes"].items()])
    lines += ["", "Keras float32 per exit: " + ", ".join(
        f"{n} {v:.4f}" for n, v in preset["accuracy"]["keras float32"].items()), "",
        "Dynamic inference with each bundle's recalibrated confidence policy (speed-up vs "
        "the same mode's final exit alone, a one-stage model; float32 and float16 compare "
        "with float32's):", ""]
    lines += _table(["mode", "test accuracy", "loss vs own final exit (points)", "mean ms",
                     "speed-up vs final exit alone", "exit mix"],
                    [(n, r["test_accuracy"], r["loss_vs_own_final_exit_points"], r["mean_ms"],
                      r["speedup_vs_final_exit_alone"],
                      " / ".join(f"{share:.0%}" for share in r["exit_histogram"]))
                     for n, r in preset["dynamic_inference"].items()])
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
    if "tradeoff" in result:
        lines += ["", "![accuracy vs latency](dynamic_inference_float32.png)", ""]
    return lines + [_provenance(result), ""]


def exit_heads_section(result):
    depths = [str(d) for d in result["depths"]]
    heads = result["heads"]
    lines = ["## Exit-head study: eight heads, three depths, three training regimes", "",
             f"Data: {result['data']}. {_recipe(result)} *End to end*: a multi-exit model with "
             f"that head after blocks {', '.join(depths)}, trained from scratch. "
             "*Classifier-wise*: the backbone trained alone (test accuracy "
             f"{result['backbone_alone_accuracy']:.4f}) is frozen and each head learns on its "
             "tokens with the true labels. *Copycat*: the same frozen backbone, each head "
             "learns the final exit's answers (no labels). Latency: LiteRT, 1 thread, medians "
             f"of {result['runs']} runs timed side by side; one encoder block takes "
             f"{result['block_ms']} ms.", ""]
    lines += _table(["head", "params", "multiply-adds", "head ms", "head / block",
                     *[f"ms to exit {d}" for d in depths]],
                    [(h, r["params"], r["macs"], r["head_ms"],
                      round(r["head_ms"] / result["block_ms"], 2),
                      *[r["cumulative_ms"][d] for d in depths]) for h, r in heads.items()])
    lines += ["", "Test accuracy at each exit (block):", ""]
    regimes = ("end_to_end", "classifier_wise", "copycat")
    lines += _table(["head", *[f"{regime.replace('_', ' ')} {d}" for regime in regimes
                               for d in depths]],
                    [(h, *[f"{r['accuracy'][regime][d]:.4f}" for regime in regimes
                           for d in depths]) for h, r in heads.items()])
    lines += ["", "![exit heads](exit_heads.png)", "", "What the papers claim, as measured here:",
              ""]
    claims = result["claims"]
    if "sl_vit_beats_every_conventional_head" in claims:
        beat = claims["sl_vit_beats_every_conventional_head"]
        cheaper = claims["sl_vit_cheaper_than_vit_ee"]
        lines.append(f"- `sl_vit` more accurate than every conventional head (mlp, CNN, "
                     f"ResMLP, mixer): in {beat['holds_in']} of {beat['of']} regime x depth "
                     f"cases. Cheaper than `vit_ee`: multiply-adds {cheaper['macs']}, params "
                     f"{cheaper['params']}.")
    copy = claims["copycat_beats_classifier_wise"]
    lines.append(f"- Copycat beats classifier-wise training (same frozen backbone) in "
                 f"{copy['holds_in']} of {copy['of']} head x depth cases; mean gain "
                 f"{copy['mean_gain_points']} points.")
    on_front = sorted({h for front in claims["pareto_heads"].values() for h in front})
    never = [h for h in heads if h not in on_front]
    lines.append(f"- Heads on the accuracy / multiply-adds Pareto front in at least one regime x "
                 f"depth: {', '.join(on_front)}; never on it: {', '.join(never) or 'none'}.")
    total = sum(result["fit_seconds"].values())
    lines += ["", f"Training time: {total:.0f} s in all; whole run {result['wall_seconds']} s.",
              ""]
    return lines + [_provenance(result), ""]


def _dataset_suffix(result) -> tuple[str, str]:
    """(" on Fashion-MNIST-C", "_fashion_mnist_c") for a study rerun on the corrupted data,
    ("", "") for clean Fashion-MNIST."""
    dataset = result.get("dataset", "fashion_mnist")
    return ("", "") if dataset == "fashion_mnist" else (" on Fashion-MNIST-C", f"_{dataset}")


def policy_section(result):
    title, file = _dataset_suffix(result)
    lines = [f"## Policy study{title}: every policy, float32 and int8, vs smaller models", "",
             f"Data: {result['data']}. {_recipe(result)} Model: an `mlp_ee` exit after every "
             f"block; int8 after {result['qat']['epochs']} epoch(s) of QAT. Each policy is "
             "calibrated on validation for accuracy-loss targets of "
             f"{', '.join(f'{t:g}' for t in result['targets_points'])} points and measured on "
             "test. The alternative is a backbone truncated after k blocks and trained alone "
             "(float32). Latency: LiteRT, 1 thread, all stages and truncated models timed side "
             f"by side, medians of {result['runs']} runs; a policy's latency is the mean over "
             "test images of the stages each one ran.", "",
             f"![policy study](policy_study{file}.png)", ""]
    final_alone = result["truncated"][max(result["truncated"], key=int)]
    rows = []
    for name, curves in result["bundles"].items():
        for kind, points in curves["policies"].items():
            chosen = next((p for p in points if p["target_points"] == 0.5), None)
            wins = result["versus_smaller_models"][f"{name} {kind}"]
            if chosen:
                rows.append((name, kind, chosen["test_accuracy"], chosen["test_loss_points"],
                             chosen["mean_ms"],
                             f"{final_alone['ms'] / chosen['mean_ms']:.2f}x",
                             f"{curves['static'][-1]['ms'] / chosen['mean_ms']:.2f}x",
                             f"{wins['points_beating_every_faster_smaller_model']} of "
                             f"{wins['of']}"))
    lines += ["At the 0.5-point target (loss measured against the bundle's own final exit; "
              "speed-up against the final exit alone in float32, and against running all of "
              "the bundle's own stages):", ""]
    lines += _table(["bundle", "policy", "test accuracy", "loss (points)", "mean ms",
                     "speed-up", "vs all own stages",
                     "points more accurate than every faster truncated model"], rows)
    lines += ["", "Truncated backbones trained alone, and each exit of the float32 bundle "
              "alone:", ""]
    static = result["bundles"]["float32"]["static"]
    lines += _table(["blocks", "truncated ms", "truncated accuracy", "exit", "exit ms (cumulative)",
                     "exit accuracy"],
                    [(d, b["ms"], b["test_accuracy"], s["exit"], s["ms"], s["test_accuracy"])
                     for (d, b), s in zip(sorted(result["truncated"].items(),
                                                 key=lambda item: int(item[0])), static,
                                          strict=True)])
    return lines + ["", _provenance(result), ""]


def deployment_section(result):
    lines = ["## Deployment: size, per-stage latency, export time per quantization mode", "",
             f"Data: {result['data']}. Model `{result['model']}`; int8 "
             f"{'from QAT model `' + str(result['qat_model']) + '`' if result['qat_model'] else 'post-training (PTQ)'}. "  # noqa: E501
             "Export covers conversion, the parity check, latency measurement and calibration "
             f"on {result['calibration_examples']} validation images; calibration alone is "
             "timed again on the finished bundle. Stage latencies of all bundles timed side by "
             f"side, LiteRT, medians of {result['runs']} runs.", ""]
    lines += _table(["mode", "bytes", "vs float32", "export s", "calibration s",
                     "stages, 1 thread (ms)", "sum", "stages, 2 threads (ms)", "sum"],
                    [(mode, r["bytes"], r["size_vs_float32"], r["export_seconds"],
                      r["calibration_seconds"],
                      " / ".join(f"{v:.3f}" for v in r["stage_ms_1_thread"]),
                      r["total_ms_1_thread"],
                      " / ".join(f"{v:.3f}" for v in r["stage_ms_2_thread"]),
                      r["total_ms_2_thread"]) for mode, r in result["modes"].items()])
    return lines + ["", _provenance(result), ""]


def audio_section(result):
    data, accuracy = result["data"], result["accuracy"]
    clips = data["clips"]
    lines = ["## Audio: spoken digits, per-exit accuracy, copycat vs plain", "",
             f"Data: {data['synthetic']} ({clips['train']} train / {clips['validation']} "
             f"validation / {clips['test']} test clips), and {data['real']}, which is ten "
             "clips: read that column as a sanity check (0.1 = one clip). Clips "
             f"{data['num_samples']} samples at {data['sample_rate']} Hz; stage 0 computes a "
             f"{data['spectrogram'][0]}x{data['spectrogram'][1]} log-mel spectrogram, cut into "
             f"a {data['grid'][0]}x{data['grid'][1]} patch grid. XS backbone (6 blocks, w128), "
             "an `sl_vit` exit after every block. *End to end*: all trained together, "
             f"{result['epochs']} epochs; *plain*: backbone trained alone ({result['epochs']} "
             f"epochs), frozen, exits trained on labels ({result['head_epochs']} epochs); "
             "*copycat*: same frozen backbone, exits trained on the final exit's answers "
             f"({result['head_epochs']} epochs).", ""]
    names = list(accuracy["test"]["end_to_end"])
    rows = []
    for name in names:
        row = [name]
        for split in ("test", "real"):
            row += [accuracy[split][regime][name] for regime in ("end_to_end", "plain", "copycat")]
        rows.append(row + [result["stage_ms"].get(name, "")])
    lines += _table(["exit", "test: end to end", "test: plain", "test: copycat",
                     "real: end to end", "real: plain", "real: copycat", "stage ms"], rows)
    early = names[:-1]
    gains = [accuracy["test"]["copycat"][n] - accuracy["test"]["plain"][n] for n in early]
    lines += ["", f"Copycat vs plain on the synthetic test set: copycat is ahead at "
              f"{sum(g > 0 for g in gains)} of {len(gains)} early exits (mean "
              f"{100 * sum(gains) / len(gains):+.2f} points). On the recorded prompts the final "
              f"exit of the end-to-end model gets {accuracy['real']['end_to_end']['final']:.0%} "
              "right: what espeak-ng voices teach carries over to a human voice on a telephone "
              "line only in part, so the synthetic figures say how the exits compare, not how "
              "well a keyword spotter would work.", "",
              f"Bundle of the end-to-end model (float32), policy `{result['policy']['type']}` "
              f"calibrated on validation for <= {result['target_loss_points']} points loss:", ""]
    lines += _table(["split", "policy accuracy", "final exit accuracy", "mean ms",
                     "all stages ms", "speed-up vs all stages", "exit histogram"],
                    [(split, r["policy_accuracy"], r["exit_accuracy"]["final"],
                      r["mean_latency_ms"], r["all_stages_latency_ms"],
                      r["speedup_vs_all_stages"],
                      " / ".join(f"{v:.2f}" for v in r["exit_histogram"].values()))
                     for split, r in result["cascade"].items()])
    return lines + ["", _provenance(result), ""]


def counting_section(result):
    mae = result["mae"]
    lines = ["## Counting (regression): per-exit MAE, copycat vs plain", "",
             f"Data: {result['data']} ({result['canvases']['train']} train / "
             f"{result['canvases']['validation']} validation / {result['canvases']['test']} "
             "test canvases of 64x64, target = number of items). XS backbone (6 blocks, w128, "
             "8x8 patches), an `sl_vit` exit after every block, one linear output, MSE loss. "
             f"*End to end* {result['epochs']} epochs; *plain* and *copycat* train the early "
             f"exits ({result['head_epochs']} epochs) on one frozen backbone trained alone "
             f"({result['epochs']} epochs), on the labels or on the final exit's values. "
             "Lower is better.", ""]
    rows = [[name] + [mae[split][regime][name] for split in ("validation", "test")
                      for regime in ("end_to_end", "plain", "copycat")]
            + [result["stage_ms"].get(name, "")] for name in mae["test"]["end_to_end"]]
    lines += _table(["exit", "val: end to end", "val: plain", "val: copycat", "test: end to end",
                     "test: plain", "test: copycat", "stage ms"], rows)
    early = list(mae["test"]["end_to_end"])[:-1]
    gains = [mae["test"]["plain"][n] - mae["test"]["copycat"][n] for n in early]
    lines += ["", f"Copycat vs plain on test: copycat has the lower MAE at "
              f"{sum(g > 0 for g in gains)} of {len(gains)} early exits (mean difference "
              f"{sum(gains) / len(gains):+.4f} items in copycat's favour)."]
    cascade = result["cascade_test"]
    lines += ["", f"Bundle of the end-to-end model (float32), policy `{result['policy']['type']}` "
              f"calibrated on validation for an MAE increase <= {result['target_mae_increase']}: "
              f"test MAE {cascade['policy_mae']} (final exit {cascade['exit_mae']['final']}), "
              f"mean {cascade['mean_latency_ms']} ms vs {cascade['all_stages_latency_ms']} ms for "
              f"all stages ({cascade['speedup_vs_all_stages']}x); exits taken "
              + " / ".join(f"{v:.2f}" for v in cascade["exit_histogram"].values()) + ".", ""]
    return lines + [_provenance(result), ""]


def audio_visual_section(result):
    mae, early = result["mae"], []
    lines = ["## Audio-visual counting: exits with and without audio, skipping the audio branch",
             "", f"Data: {result['data']} ({result['pairs']['train']} train / "
             f"{result['pairs']['validation']} validation / {result['pairs']['test']} test "
             "pairs; target = number of items). Visual XS ViT (6 blocks, w128, 8x8 patches) and "
             "an audio ViT (2 blocks, w64) on the log-mel spectrogram "
             f"{tuple(result['audio']['spectrogram'])}, its summary one token; after every "
             "block a visual `sl_vit` exit (`exit_k`) and an audio-visual one (`exit_k_av`, the "
             "audio token joins its sequence); an audio-visual final exit. MSE loss. "
             f"*End to end* {result['epochs']} epochs; *plain* and *copycat* train the early "
             f"exits ({result['head_epochs']} epochs) on both encoders and the final exit "
             f"trained alone ({result['epochs']} epochs), frozen. Test MAE, lower is better.", ""]
    test = mae["test"]
    blocks = sorted({int(name.split("_")[1]) for name in test["end_to_end"] if name != "final"})
    rows = []
    for block in blocks:
        visual, audible = f"exit_{block}", f"exit_{block}_av"
        early += [visual, audible]
        rows.append([block] + [test[regime][name] for regime in ("end_to_end", "plain", "copycat")
                               for name in (visual, audible)])
    lines += _table(["after block", "end to end: visual", "end to end: audio-visual",
                     "plain: visual", "plain: audio-visual", "copycat: visual",
                     "copycat: audio-visual"], rows)
    helped = [test["end_to_end"][f"exit_{b}"] - test["end_to_end"][f"exit_{b}_av"]
              for b in blocks]
    gains = [test["plain"][n] - test["copycat"][n] for n in early]
    lines += ["", f"Final exit (audio-visual): end to end {test['end_to_end']['final']}, "
              f"trained alone {test['plain']['final']}. End to end, the audio lowers the MAE at "
              f"{sum(h > 0 for h in helped)} of {len(helped)} depths (by "
              f"{sum(helped) / len(helped):.4f} items on average). Copycat vs plain: copycat has "
              f"the lower MAE at {sum(g > 0 for g in gains)} of {len(gains)} early exits (mean "
              f"difference {sum(gains) / len(gains):+.4f} items in copycat's favour).", "",
              "Three float32 bundles share the end-to-end model's weights; each policy "
              f"(`agreement`) is calibrated on validation for an MAE increase <= "
              f"{result['target_mae_increase']}. *Paid for audio*: share of test inputs that "
              "reached the stage running the audio branch.", ""]
    rows = [[variant.replace("_", " "), bundle["audio_branch_stage"],
             bundle["stage_ms"][bundle["audio_branch_stage"]], bundle["policy_mae"],
             bundle["paid_for_audio"], bundle["mean_latency_ms"],
             bundle["all_stages_latency_ms"], bundle["speedup_vs_all_stages"]]
            for variant, bundle in result["bundles"].items()]
    lines += _table(["bundle", "audio runs in", "that stage ms", "test MAE", "paid for audio",
                     "mean ms", "all stages ms", "speed-up"], rows)
    both = result["bundles"].get("both")
    if both:
        # In `both`, the stage of exit_1_av runs no block: the audio branch and one
        # audio-visual head; later audio-visual stages run that head alone.
        stage_ms = both["stage_ms"]
        heads = [ms for name, ms in stage_ms.items()
                 if name.endswith("_av") and name != both["audio_branch_stage"]]
        if heads:
            branch = stage_ms[both["audio_branch_stage"]] - sorted(heads)[len(heads) // 2]
            lines += ["", "The audio branch alone (the `both` bundle's "
                      f"{both['audio_branch_stage']} stage less the median audio-visual "
                      f"head-only stage) costs about {branch:.3f} ms per input: what an input "
                      "that leaves at a visual exit before it saves."]
    visual = result["bundles"].get("visual_exits")
    if both and visual:
        lines += ["", f"Skipping the audio branch (the visual-exits bundle) spares it for "
                  f"{1 - visual['paid_for_audio']:.0%} of test inputs, at test MAE "
                  f"{visual['policy_mae']} and {visual['mean_latency_ms']} ms per input; letting "
                  f"the policy choose (`both`) gives MAE {both['policy_mae']} at "
                  f"{both['mean_latency_ms']} ms with {both['paid_for_audio']:.0%} paying for "
                  "audio. *Stage ms* are the export's medians per stage; *mean ms* and *all "
                  "stages ms* are timed per input in the Python cascade, hand-offs included."]
    return lines + ["", _provenance(result), ""]


def _spread(row, scale=1.0, digits=3) -> str:
    """'mean (min to max)' of a summary entry, times `scale` (100 for points)."""
    low, high = row["min"] * scale, row["max"] * scale
    return f"{row['mean'] * scale:.{digits}f} ({low:.{digits}f} to {high:.{digits}f})"


def pretrained_section(result):
    sizes, pretraining = result["sizes"], result["pretraining"]
    seeds = result["seeds"]
    pre, rand = (result["starts"][s]["summary"] for s in ("pretrained", "random"))
    lines = ["## Fine-tuning from a pretrained ViT vs random init", "",
             f"Data: {result['data']}. A small keras-hub `ViTBackbone` ({sizes['num_layers']} "
             f"blocks, width {sizes['hidden_dim']}, patch 4 at 28x28x1) is pretrained with "
             f"keras-hub's own `fit` on Fashion-MNIST's first 5 classes ({pretraining['images']} "
             f"images, {pretraining['epochs']} epochs, train accuracy "
             f"{pretraining['train_accuracy']:.3f}, {pretraining['seconds']:.0f} s) and saved as a "
             "keras-hub preset; the same architecture at random init is saved beside it. Each "
             "is fine-tuned with `mexit train --from PRESET` (the `finetune` recipe: exits and "
             "head on the frozen backbone, then everything with layer-wise decay; crop and "
             f"flip off) on the other 5 classes ({', '.join(result['finetune_classes'])}): "
             f"{sizes['per_class']} training images per class, {sizes['val_per_class']} for "
             f"validation (the policy's calibration) and {sizes['test_per_class']} test images "
             f"per class. One pretraining; fine-tuning seeds {', '.join(map(str, seeds))}. "
             "Figures are the mean over seeds (min to max).", ""]
    rows = []
    for name, row in pre["test_accuracy"].items():
        other = rand["test_accuracy"][name]
        rows.append((name, _spread(row), _spread(other),
                     f"{100 * (row['mean'] - other['mean']):+.1f}",
                     _spread(pre["train_accuracy"][name]),
                     _spread(rand["train_accuracy"][name])))
    lines += _table(["exit", "test: pretrained", "test: random init",
                     "pretrained - random (points)", "train: pretrained", "train: random init"],
                    rows)
    ahead = [r[0] for r in rows if float(r[3]) > 0]
    lines += ["", (f"Fine-tuning from the pretrained weights is ahead at {', '.join(ahead)} "
                   if ahead else "Fine-tuning from the pretrained weights is ahead at no exit ") +
              f"({len(ahead)} of {len(rows)} exits, mean over {len(seeds)} seeds).", "",
              "Calibrated policy (test split) and time in `fit` (both phases):", ""]
    lines += _table(["start", "speed-up vs all stages", "loss vs final exit (points)",
                     "train seconds"],
                    [(start, _spread(s["policy_speedup"], digits=2),
                      _spread(s["policy_loss"], 100, 1), _spread(s["train_seconds"], digits=0))
                     for start, s in (("pretrained", pre), ("random init", rand))])
    probes = result["linear_probe"]
    lines += ["", "Linear probe of the frozen features before any fine-tuning (a ridge "
              "classifier on the class token after each block, trained on the "
              f"{5 * sizes['per_class']} training images, scored on the test images):", ""]
    lines += _table(["block", "pretrained features", "random features"],
                    [(block.replace("block_", ""), f"{probes['pretrained'][block]:.3f}",
                      f"{probes['random'][block]:.3f}") for block in probes["pretrained"]])
    lines += ["", _pretrained_cause(result, pre, rand), ""]
    return lines + [_provenance(result), ""]


def _pretrained_cause(result, pre, rand) -> str:
    """Why the starts differ, in the order it was checked: do the weights arrive, are
    the frozen features better, does fine-tuning fit the training images."""
    gap = max(result["import_max_abs_diff"].values())
    probes = result["linear_probe"]
    blocks = list(probes["pretrained"])
    behind = [b for b in blocks if probes["pretrained"][b] < probes["random"][b]]
    last = blocks[-1]
    fit = {start: s["train_accuracy"]["final"]["mean"] for start, s in
           (("pretrained", pre), ("random", rand))}
    test = {start: s["test_accuracy"]["final"]["mean"] for start, s in
            (("pretrained", pre), ("random", rand))}
    same = ("are identical to keras-hub's" if gap == 0 else
            f"differ from keras-hub's by at most {gap:.1e}")
    text = (f"Why: the preset's weights arrive (the imported backbone's output tokens {same} "
            "on test images). Before any fine-tuning, the "
            f"pretrained features probe worse than random ones at {len(behind)} of "
            f"{len(blocks)} blocks (after the last block {probes['pretrained'][last]:.3f} vs "
            f"{probes['random'][last]:.3f}). ")
    if len(behind) > len(blocks) / 2:
        text += ("Pretraining on tops, trousers, dresses and coats taught features that tell "
                 "those apart and lost some of what tells sandals, shirts, sneakers, bags "
                 "and boots apart; at 28x28 a random ViT's tokens still carry the pixels, "
                 "which do that better. ")
    if fit["pretrained"] >= fit["random"] - 0.02:
        text += (f"Fine-tuning does not underfit: the final exit fits its training images "
                 f"({fit['pretrained']:.3f} pretrained, {fit['random']:.3f} random init), so "
                 "the lower learning rate and layer decay do not hold it back; at test its "
                 f"final exit is {100 * abs(test['pretrained'] - test['random']):.1f} points "
                 f"{'behind' if test['pretrained'] < test['random'] else 'ahead'}. ")
    else:
        text += (f"The pretrained start also fits its training images less "
                 f"({fit['pretrained']:.3f} vs {fit['random']:.3f} at the final exit). ")
    return text + ("A source this narrow is no evidence for or against `--from` with an "
                   "ImageNet-pretrained DeiT or DINOv2 on photos; it shows the path end to end.")


def record_training(metrics_path, command, note):
    metrics = json.loads(Path(metrics_path).read_text())
    result = {key: metrics[key] for key in ("data", "validation", "test", "train_seconds",
                                            "versions", "machine", "config")}
    result.update(benchmark="training_run", command=command, note=note)
    write_json_atomic(RESULTS / "training_run.json", result)


def _sampling_note(examples) -> str:
    """How far two late shares of the same work drift apart by chance alone, at this sample."""
    if not examples:
        return ""
    spread = 100 * (2 * 0.02 * 0.98 / examples) ** 0.5
    return (f" {examples} examples per cell: two candidates doing the same work, each late "
            f"2% of the time, differ by {spread:.1f} pts (one s.d.) by chance alone.")


def _deadline_depth_note(table, gated) -> list[str]:
    """When the policy left at exit 1 every time, only the deadline-only candidate tested
    the deadline's own decisions of how deep to go: say so."""
    if all(row["candidates"][gated].get("exit_histogram") == [1.0] for row in table):
        return ["The calibrated policy left at exit 1 on every example at every deadline "
                "(exit 1 is this bundle's most accurate exit), so here only the deadline-only "
                "candidate lets the deadline decide how deep a run goes.", ""]
    return []


def _worst_above_floor(table, candidate) -> str:
    worst = max(table, key=lambda r: r["candidates"][candidate]["miss_rate"]
                - r["candidates"][candidate]["floor_miss_rate"])
    c = worst["candidates"][candidate]
    return (f"{100 * (c['miss_rate'] - c['floor_miss_rate']):+.2f} pts "
            f"(at {worst['deadline_ms']} ms)")


def _settings_note(table, default) -> list[str]:
    """Per latency-model setting (the default first): the anytime candidates' worst excess
    lateness over the floor and, with labels, their accuracy averaged over the sweep."""
    labels = sorted({name.split(" ", 1)[1] for name in table[0]["candidates"]
                     if name.startswith("gated ")}, key=lambda label: (label != default, label))
    parts = []
    for label in labels:
        cells = []
        for kind, shown in (("gated", "gated"), ("ungated", "deadline-only")):
            name = f"{kind} {label}"
            cell = f"{shown} late {_worst_above_floor(table, name)}"
            if "accuracy" in table[0]["candidates"][name]:
                mean = sum(r["candidates"][name]["accuracy"] for r in table) / len(table)
                cell += f", mean accuracy {mean:.4f}"
            cells.append(cell)
        parts.append(f"*{label}*{' (default)' if label == default else ''}: "
                     + "; ".join(cells))
    accuracy = " (and accuracy averaged over the sweep)" if "accuracy" in cell else ""
    return [f"Worst lateness above the floor{accuracy} by latency-model setting (quantile q, "
            "margin m): " + " · ".join(parts) + ".", ""]


def deadline_section(result):
    default = result["default_setting"]
    gated, ungated = f"gated {default}", f"ungated {default}"
    title, file = _dataset_suffix(result)
    lines = [f"## Deadlines{title}: the anytime bundle vs static models", "",
             "Every candidate answers every test example under each deadline, in an order "
             "shuffled per example; an answer is late when its whole call took longer. "
             "*Anytime, gated*: `predict(x, deadline_ms=D)` with the bundle's calibrated "
             f"policy (latency model {default}, the defaults; other settings beside them "
             "at the CPU preset). "
             "*Deadline only*: the same without the policy (`run_to_end=True`), as deep as "
             "the deadline allows. *Budget*: "
             "the budget policy for D over the idle export-time stage latencies (one fixed "
             "exit). *Truncated d*: the backbone cut after d blocks, trained alone with the "
             "same recipe (static; d = all is the monolith). *Floor*: stage 0 alone on the "
             "anytime candidates' own loaded stages, the least lateness any answer can have. "
             "Every candidate runs once per example, on a load of the bundle that only its "
             "setting's anytime candidates and floor share, so none is warmer in cache than "
             "another. The loaded phase runs beside "
             f"{result['load']}. "
             "*vs best static*: the candidate's accuracy minus that of the most accurate "
             "static model (truncated or budget) late no more often than it.", "",
             f"![deadline study](deadline_study{file}.png)", ""]
    for key, title in (("cpu_preset", "CPU preset"), ("ti16_224", "ViT-Ti/16 224x224")):
        model = result[key]
        if model is None:  # Ti/16 runs on synthetic images: its figures are the clean run's
            lines += [f"### {title}", "", "Not rerun: its images are synthetic, so its miss "
                      "rates and latencies do not depend on the data; see the clean run.", ""]
            continue
        lines += [f"### {title}", "", f"Data: {model['data']}. Stage latencies at export "
                  f"(ms): {', '.join(str(round(v, 3)) for v in model['stage_ms_at_export'])}."
                  + _sampling_note(model.get("examples")), ""]
        for state, table in model["states"].items():
            has_accuracy = "accuracy" in table[0]["candidates"][gated]
            headers = ["deadline ms", "floor late", "gated late", "gated p99 ms"]
            headers += (["gated acc", "best static (late, acc)", "vs best static"]
                        if has_accuracy else [])
            headers += ["deadline-only late"]
            headers += ["deadline-only acc (vs best static)"] if has_accuracy else []
            headers += ["budget late", "monolith late"]
            rows = []
            for row in table:
                c = row["candidates"]
                statics = [n for n in c if n.startswith("truncated")]
                cells = [row["deadline_ms"], f"{row['floor_miss_rate']:.1%}",
                         f"{c[gated]['miss_rate']:.1%}", c[gated]["p99_ms"]]
                if has_accuracy:
                    best = c[gated]["best_static"]
                    cells += [c[gated]["accuracy"],
                              f"{best} ({c[best]['miss_rate']:.1%}, {c[best]['accuracy']})"
                              if best else "none as punctual", _gap(c[gated])]
                cells += [f"{c[ungated]['miss_rate']:.1%}"]
                if has_accuracy:
                    versus = _gap(c[ungated]) or "none as punctual"
                    cells += [f"{c[ungated]['accuracy']} ({versus})"]
                cells += [f"{c['budget']['miss_rate']:.1%}",
                          f"{c[statics[-1]]['miss_rate']:.1%}"]
                rows.append(cells)
            lines += [f"{state.capitalize()}:", ""] + _table(headers, rows) + [""]
            lines += _deadline_depth_note(table, gated)
            lines += _settings_note(table, default)
    return lines + [_provenance(result), ""]


def _gap(candidate) -> str:
    gap = candidate["accuracy_vs_best_static"]
    return "" if gap is None else f"{100 * gap:+.2f} pts"


def draw_plots(docs: Path, results: Path = RESULTS) -> None:
    """Every plot of the page, from the results alone."""
    from mexit_tf.converters.tradeoff_plot import draw_tradeoff

    for name, path, draw in (
            ("exit_heads", "exit_heads.png", plot_exit_heads),
            ("policy_study", "policy_study.png", plot_policy_study),
            ("policy_study_fashion_mnist_c", "policy_study_fashion_mnist_c.png",
             plot_policy_study),
            ("corruption_depth", "corruption_depth.png", plot_corruption_depth),
            ("exit_placement", "exit_placement.png", plot_exit_placement),
            ("exit_placement_fashion_mnist", "exit_placement_fashion_mnist.png",
             plot_exit_placement),
            ("exit_placement_untrained_2_3_4", "exit_placement_untrained_2_3_4.png",
             plot_exit_placement),
            ("throughput", "throughput.png", plot_throughput),
            ("deadline_study", "deadline_study.png", plot_deadline_study),
            ("deadline_study_fashion_mnist_c", "deadline_study_fashion_mnist_c.png",
             plot_deadline_study),
            ("dynamic_inference", "dynamic_inference_float32.png",
             lambda r, p: draw_tradeoff(r["tradeoff"], p, "Fashion-MNIST test, float32 bundle, "
                                                          "LiteRT 1 thread"))):
        result = _load(name, results)
        if result and (name != "dynamic_inference" or "tradeoff" in result):
            draw(result, docs / path)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(description="Regenerate docs/benchmarks.md")
    parser.add_argument("--record-training", metavar="METRICS_JSON")
    parser.add_argument("--command", default="mexit train --preset fashion_mnist_cpu")
    parser.add_argument("--note", default="")
    parser.add_argument("--results", default=str(RESULTS), help="folder of result JSON files")
    parser.add_argument("--docs", default=str(ROOT / "docs"), help="where the page and plots go")
    args = parser.parse_args(argv)
    if args.record_training:
        record_training(args.record_training, args.command, args.note)
    sections = ["# Benchmarks", "",
                "Every figure here is produced by a script in `benchmarks/` (each section names "
                "its command, seed, library versions and machine); rerun one, then "
                "`python benchmarks/report.py` to regenerate this page and its plots from "
                "`benchmarks/results/`. Ratios are measured side by side in one run; times are "
                "medians. Every script also runs at `--smoke` size in the tests.", ""]
    for name, render in (("training_run", training_run_section),
                         ("training_overhead", training_section),
                         ("staged_overhead", staged_section),
                         ("dynamic_inference", dynamic_section),
                         ("int8_quantization", int8_section),
                         ("deployment", deployment_section),
                         ("exit_heads", exit_heads_section),
                         ("policy_study", policy_section),
                         ("audio_exits", audio_section),
                         ("counting_exits", counting_section),
                         ("audio_visual_counting", audio_visual_section),
                         ("deadline_study", deadline_section),
                         ("corruption_depth", corruption_depth_section),
                         ("policy_study_fashion_mnist_c", policy_section),
                         ("deadline_study_fashion_mnist_c", deadline_section),
                         ("exit_placement", exit_placement_section),
                         ("exit_placement_fashion_mnist", exit_placement_section),
                         ("exit_placement_untrained_2_3_4", exit_placement_section),
                         ("throughput", throughput_section),
                         ("pretrained_finetune", pretrained_section)):
        result = _load(name, args.results)
        if result:
            sections += render(result)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    draw_plots(docs, args.results)
    write_text_atomic(docs / "benchmarks.md", "\n".join(sections))
    print(f"wrote {docs / 'benchmarks.md'}")


if __name__ == "__main__":
    main()
