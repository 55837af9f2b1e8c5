"""Staged bundle vs monolithic model: does cutting the ViT into stages cost anything?

For each model, every stage of a float32 bundle is run in turn (stage k feeds
stage k+1), against one TFLite model of the same backbone + final head. Both
are timed alternately, 1 thread, median over --runs (>= 200 for the report).

    python benchmarks/staged_overhead.py              # XS/4 6-block CPU preset + 12-block w192
    python benchmarks/staged_overhead.py --smoke      # tiny, for tests
"""

import argparse
import sys

import keras
import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from _common import interleaved_medians, save_result  # noqa: E402

import mexit_tf  # noqa: E402
from converters.litert_stage import LiteRTStage  # noqa: E402
from converters.stage_builder import build_stage_models  # noqa: E402
from converters.tflite_conversion import convert_to_tflite  # noqa: E402

MODELS = {
    "XS/4, 6 blocks, w128 (CPU preset)": dict(preset="XS/4"),
    "Ti/4, 12 blocks, w192": dict(preset="Ti/4"),
}


def runners(model):
    return [LiteRTStage(convert_to_tflite(stage)) for stage in build_stage_models(model)]


def measure(preset, image_shape, runs, num_layers=None):
    keras.utils.set_random_seed(0)
    overrides = {"num_layers": num_layers} if num_layers else {}
    backbone = mexit_tf.ViTBackbone.from_preset(preset, image_shape=image_shape, **overrides)
    exits = {block: "mlp_ee" for block in range(1, backbone.num_layers)}
    staged = runners(mexit_tf.MultiExitModel(backbone, exits=exits, num_outputs=10))
    mono_model = mexit_tf.MultiExitModel(backbone, exits={}, num_outputs=10)
    (mono,) = runners(mono_model)
    x = np.random.default_rng(0).uniform(0, 255, (1, *image_shape)).astype("float32")

    def run_staged():
        hidden = x
        for stage in staged:
            hidden = stage.run(hidden)[0].get("hidden")

    medians = interleaved_medians({"monolithic": lambda: mono.run(x),
                                   "staged": run_staged}, runs)
    return {"monolithic_ms": round(medians["monolithic"], 4),
            "staged_ms": round(medians["staged"], 4),
            "ratio": round(medians["staged"] / medians["monolithic"], 4),
            "stages": len(staged), "blocks": backbone.num_layers,
            "width": backbone.hidden_dim}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args(argv)
    rows = {}
    if args.smoke:
        rows["tiny"] = measure("XS/4", (8, 8, 1), 5, num_layers=2)
    else:
        for label, spec in MODELS.items():
            rows[label] = measure(spec["preset"], (28, 28, 1), args.runs)
            print(label, rows[label], flush=True)
    command = "python benchmarks/staged_overhead.py" + (" --smoke" if args.smoke else
                                                        f" --runs {args.runs}")
    if not args.smoke:
        save_result("staged_overhead", {"runs": args.runs, "threads": 1,
                                        "quantization": "float32", "rows": rows}, command)
    print(rows)
    return rows


if __name__ == "__main__":
    main()
