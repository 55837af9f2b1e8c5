"""Training step time of a multi-exit ViT vs the backbone alone (issue: core).

All models are built and compiled (XLA on) first, then timed in alternation:
each repeat times a block of steps of every model in turn, and each figure is
the median over repeats, so machine drift hits every model alike.

    python benchmarks/training_overhead.py            # XS/4, 28x28, mlp_ee after every block
    python benchmarks/training_overhead.py --smoke    # tiny, for tests

Writes benchmarks/results/training_overhead.json; `benchmarks/report.py`
puts it into docs/benchmarks.md.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np

import mexit_tf
from mexit_tf.atomic_files import write_json_atomic
from mexit_tf.versions import library_versions, machine_description

RESULTS = Path(__file__).parent / "results"


def _model(preset, image_shape, heads, num_layers=None):
    overrides = {"num_layers": num_layers} if num_layers else {}
    backbone = mexit_tf.ViTBackbone.from_preset(preset, image_shape=image_shape, **overrides)
    exits = {block: heads for block in range(1, backbone.num_layers)} if heads else {}
    return mexit_tf.MultiExitModel(backbone, exits=exits, num_outputs=10)


def time_steps_interleaved(models: dict, x, y, steps, repeats) -> dict:
    for model in models.values():
        model.compile(optimizer="adamw", jit_compile=True)
        model.train_on_batch(x, y)  # compile
    times = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            started = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - started) / steps)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default=str(RESULTS / "training_overhead.json"))
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    preset, shape, layers = ("XS/4", (28, 28, 1), None) if not args.smoke else (
        "XS/4", (8, 8, 1), 2)
    steps, repeats = (10, 5) if not args.smoke else (2, 2)
    batch = args.batch_size if not args.smoke else 8
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, *shape)).astype("float32")
    y = rng.integers(0, 10, batch)
    models = {label: _model(preset, shape, heads, layers)
              for label, heads in (("backbone", None), ("mlp_ee", "mlp_ee"),
                                   ("sl_vit", "sl_vit"))}
    rows = {}
    for label, seconds in time_steps_interleaved(models, x, y, steps, repeats).items():
        rows[label] = {"step_ms": round(seconds * 1000, 2),
                       "images_per_s": round(batch / seconds, 1)}
        print(f"{label:10s} {seconds * 1000:8.1f} ms/step", flush=True)
    base = rows["backbone"]["step_ms"]
    for row in rows.values():
        row["ratio_vs_backbone"] = round(row["step_ms"] / base, 3)
    result = {"benchmark": "training_overhead", "preset": preset, "image_shape": shape,
              "batch_size": batch, "steps": steps, "repeats": repeats, "smoke": args.smoke,
              "rows": rows, "versions": library_versions(), "machine": machine_description(),
              "command": "python benchmarks/training_overhead.py" + (" --smoke" * args.smoke)}
    write_json_atomic(args.out, result)
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
