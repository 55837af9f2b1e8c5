"""Staged bundle vs monolithic model: does cutting the ViT into stages cost anything?

For each model, every stage of a float32 bundle is run in turn (stage k feeds
stage k+1), against one TFLite model of the same backbone + final head. Both
are timed alternately, 1 thread, median over --runs (>= 200 for the report),
split into --trials that each load the interpreters afresh.

Two more candidates, timed in the same alternation, say where the cost lies:
`staged_invoke` invokes the same stages with no Python copies in between, and
`bare_split` cuts the plain model at the same blocks with no exit heads at
all, i.e. the price LiteRT charges for running separate models.

Both Python runtimes are timed: the LiteRT Interpreter (`staged` vs
`monolithic`, one copy of the tokens per stage) and `CompiledModel`
(`staged_compiled` vs `monolithic_compiled`, stage k's output buffer bound as
stage k+1's input). So is the Kotlin core's JVM runner (`jvm_ratio`: the same
stage files through LiteRT's C API, android_demo/jvm), in its own process,
alternating the two chains the same way.

    python benchmarks/staged_overhead.py              # CPU preset, Ti/4 28x28, Ti/16 224x224
    python benchmarks/staged_overhead.py --smoke      # tiny, for tests
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from _common import add_note_argument, interleaved_medians, save_result  # noqa: E402
from mexit_tf.converters.stage_builder import build_stage_models  # noqa: E402
from mexit_tf.converters.tflite_conversion import convert_to_tflite  # noqa: E402

import mexit_tf  # noqa: E402
from mexit_tf.runtime.compiled_stage import CompiledStage  # noqa: E402
from mexit_tf.runtime.litert_stage import LiteRTStage  # noqa: E402

MODELS = {
    "XS/4, 6 blocks, w128 (CPU preset), exit after every block": dict(
        preset="XS/4", every=1, image_shape=(28, 28, 1)),
    "Ti/16 224x224, exits after blocks 3/6/9": dict(
        preset="Ti/16", every=3, image_shape=(224, 224, 3), scale=0.1),
    "Ti/16 224x224, exit after every block": dict(
        preset="Ti/16", every=1, image_shape=(224, 224, 3), scale=0.1),
}


def measure(preset, image_shape, runs, trials, every=1, num_layers=None):
    keras.utils.set_random_seed(0)
    overrides = {"num_layers": num_layers} if num_layers else {}
    backbone = mexit_tf.ViTBackbone.from_preset(preset, image_shape=image_shape, **overrides)
    exits = {block: "mlp_ee" for block in range(every, backbone.num_layers, every)}
    mono_model = mexit_tf.MultiExitModel(backbone, exits={}, num_outputs=10)
    files = {
        "staged": [convert_to_tflite(stage) for stage in build_stage_models(
            mexit_tf.MultiExitModel(backbone, exits=exits, num_outputs=10))],
        "monolithic": [convert_to_tflite(stage) for stage in build_stage_models(mono_model)],
        "bare_split": [convert_to_tflite(part) for part in bare_split(mono_model, exits)],
    }
    x = np.random.default_rng(0).uniform(0, 255, (1, *image_shape)).astype("float32")
    # Each trial loads fresh interpreters: where their buffers land in memory
    # moves the result by a few percent, more than the spread within a trial.
    per_trial = [_trial(files, x, max(runs // trials, 1)) for _ in range(trials)]
    medians = {name: statistics.median(t[name] for t in per_trial) for name in per_trial[0]}
    ratios = {name: [t[name] / t["monolithic_compiled" if "compiled" in name else "monolithic"]
                     for t in per_trial] for name in per_trial[0]}
    row = {"monolithic_ms": round(medians["monolithic"], 4),
           "staged_ms": round(medians["staged"], 4),
           "monolithic_compiled_ms": round(medians["monolithic_compiled"], 4),
           "staged_compiled_ms": round(medians["staged_compiled"], 4)}
    for name in ("staged", "staged_invoke", "bare_split", "staged_compiled"):
        key = "ratio" if name == "staged" else f"{name}_ratio"
        row[key] = round(statistics.median(ratios[name]), 4)
        row[f"{key}_range"] = [round(min(ratios[name]), 4), round(max(ratios[name]), 4)]
    jvm = jvm_chain_medians({"staged": files["staged"], "monolithic": files["monolithic"]},
                            image_shape, max(runs // trials, 1), trials)
    row["jvm_monolithic_ms"] = round(statistics.median(jvm["monolithic"]), 4)
    row["jvm_staged_ms"] = round(statistics.median(jvm["staged"]), 4)
    jvm_ratios = [s / m for s, m in zip(jvm["staged"], jvm["monolithic"], strict=True)]
    row["jvm_ratio"] = round(statistics.median(jvm_ratios), 4)
    row["jvm_ratio_range"] = [round(min(jvm_ratios), 4), round(max(jvm_ratios), 4)]
    return {**row, "trials": trials, "runs_per_trial": max(runs // trials, 1),
            "stages": len(files["staged"]), "blocks": backbone.num_layers,
            "width": backbone.hidden_dim}


def _trial(files, x, runs):
    staged, (mono,), bare = ([LiteRTStage(data) for data in files[name]]
                             for name in ("staged", "monolithic", "bare_split"))
    compiled = [CompiledStage(data, stage.spec) for data, stage in zip(files["staged"], staged,
                                                                       strict=True)]
    mono_compiled = CompiledStage(files["monolithic"][0], mono.spec)

    def chained(stages):  # as the Cascade runtime does: stage by stage, by role
        def run():
            state = {"image": x}
            for stage in stages:
                stage.run_roles(state)
        return run

    # Fill every stage's input once, for the invoke-only timings. A bare part has
    # one output (its tokens), which LiteRTStage names "logits" by position.
    for chain, role in ((staged, "hidden"), (bare, "logits")):
        hidden = x
        for stage in chain[:-1]:
            hidden = stage.run(hidden)[0][role]
        chain[-1].run(hidden)

    return interleaved_medians({
        "monolithic": chained([mono]),
        "staged": chained(staged),
        "monolithic_compiled": chained([mono_compiled]),
        "staged_compiled": chained(compiled),
        "staged_invoke": lambda: [stage.invoke() for stage in staged],
        "bare_split": lambda: [stage.invoke() for stage in bare],
    }, runs)


def jvm_chain_medians(chains: dict, image_shape, runs: int, trials: int) -> dict:
    """Per chain, the JVM runner's median ms of each trial (android_demo/jvm ChainBenchmark).
    Each chain's stage files are written as a bundle folder (a manifest the Kotlin core
    reads)."""
    root = Path(__file__).resolve().parents[1]
    built = subprocess.run(["bash", root / "android_demo" / "tools" / "build_jvm_runner.sh"],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHON": sys.executable})
    library, jar = built.stdout.split()
    with tempfile.TemporaryDirectory() as scratch:
        folders = []
        for name, stage_files in chains.items():
            folder = Path(scratch) / name
            folder.mkdir()
            stages = []
            for index, data in enumerate(stage_files):
                (folder / f"stage_{index}.tflite").write_bytes(data)
                spec = LiteRTStage(data).spec
                # A manifest on the bundle contract (the JVM loader applies it to any folder).
                stages.append({**spec, "file": f"stage_{index}.tflite", "bytes": len(data),
                               "sha256": hashlib.sha256(data).hexdigest(),
                               "exit": f"exit_{index}", "cost": {"latency_ms": 1.0}})
            manifest = {"format_version": 1, "input": {"shape": [1, *image_shape]},
                        "labels": [], "quantization": "float32", "stages": stages,
                        "policy": {"type": "patience", "patience": 1,
                                   "num_exits": len(stages)}}
            (folder / "manifest.json").write_text(json.dumps(manifest))
            folders.append(f"{name}={folder}")
        result = subprocess.run(
            ["java", f"-Dmexit.litert.jni={library}", "-cp", jar,
             "dev.mexit.jvm.ChainBenchmarkKt", "--runs", str(runs), "--trials", str(trials),
             *folders], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def bare_split(model, exits):
    """The plain model cut at the exits' blocks into separate models, with no exit heads."""
    backbone = model.backbone
    bounds = [0, *sorted(exits), backbone.num_layers]
    token_shape = (backbone.patch_embedding.num_tokens, backbone.hidden_dim)
    parts = []
    for index in range(len(bounds) - 1):
        if index == 0:
            inputs = keras.Input(backbone.image_shape, batch_size=1)
            hidden = backbone.patch_embedding(backbone.rescaling(inputs))
        else:
            inputs = hidden = keras.Input(token_shape, batch_size=1)
        for block in backbone.encoder_blocks[bounds[index]:bounds[index + 1]]:
            hidden = block(hidden)
        last = index == len(bounds) - 2
        outputs = model.final_head(backbone.final_norm(hidden)) if last else hidden
        parts.append(keras.Model(inputs, outputs))
    return parts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--runs", type=int, default=2000, help="per candidate, over all trials")
    parser.add_argument("--trials", type=int, default=20)
    add_note_argument(parser)
    args = parser.parse_args(argv)
    rows = {}
    if args.smoke:
        rows["tiny"] = measure("XS/4", (8, 8, 1), 4, trials=2, num_layers=2)
    else:
        for label, spec in MODELS.items():
            scale = spec.get("scale", 1.0)  # big models: fewer runs, each one takes longer
            rows[label] = measure(spec["preset"], spec["image_shape"], int(args.runs * scale),
                                  max(2, int(args.trials * scale * 2)), spec["every"])
            print(label, rows[label], flush=True)
    command = "python benchmarks/staged_overhead.py" + (" --smoke" if args.smoke else
                                                        f" --runs {args.runs} --trials {args.trials}")  # noqa: E501
    if not args.smoke:
        save_result("staged_overhead", {"runs": args.runs, "trials": args.trials, "threads": 1,
                                        "quantization": "float32", "rows": rows}, command,
                    note=args.note)
    print(rows)
    return rows


if __name__ == "__main__":
    main()
