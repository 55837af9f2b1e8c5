"""Deadlines nobody knows in advance: the anytime bundle vs static models, idle and loaded.

For each deadline D of a sweep from stage 0's latency (as this runtime takes it)
to 1.5x all stages, every
candidate answers every test example, in an order shuffled per example; a run
misses when its whole call takes longer than D:

- anytime (gated): `predict(x, deadline_ms=D)` with the bundle's calibrated
  confidence policy: leave early when it says so, never start a stage whose
  predicted time does not fit;
- anytime (ungated): the deadline alone (`run_to_end=True`), as deep as fits;
  both with the latency model's defaults and, at the CPU preset, with the
  `ALTERNATIVES` beside them, which is how the defaults were chosen;
- budget: the `budget` policy for D over the stage latencies measured on the
  idle machine at export: one fixed exit per deadline;
- truncated d: the backbone cut after d blocks and trained alone (same recipe
  as the multi-exit model; d = all blocks is the monolith): static models;
- floor: stage 0 alone (exit 1 of the bundle), through the same deadline path
  (a deadline no second stage fits, no policy to ask), timed the same way, on
  the same loaded stages as the gated and ungated candidates of each latency
  setting. No answer of the bundle can come sooner, so its miss rate is the
  least an anytime candidate can have.

Each bundle candidate loads the bundle for itself, in a shuffled order, so no
candidate is warmer in cache or better placed in memory than another (see
`candidates_for`). The sweep runs once on the idle machine, then under a
bounded background load (co-running processes at a fixed duty cycle, ending by
themselves). The latency models carry over from the idle phase into the loaded
one, as a process would when its device slows down.

Two models: the CPU preset (XS/4 28x28, exits after every block, exit 1 with a
CNN head (see `study_exit_heads`), trained with the studies' recipe; accuracy on the
real Fashion-MNIST test split) and a ViT-Ti/16 at 224x224 (random init and
synthetic images: miss rate and latency only, no accuracy).

    python benchmarks/deadline_study.py   # ~30 min on 2 cores, +~20 min to train the models
    python benchmarks/deadline_study.py --smoke         # tiny, for tests
"""

import argparse
import inspect
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _background_load import BackgroundLoad  # noqa: E402
from _common import save_result  # noqa: E402
from _study import (  # noqa: E402
    add_dataset_argument,
    result_name,
    study_arguments,
    study_backbone,
    study_setup,
    train_cached,
)
from mexit_tf.converters.bundle_export import export_bundle  # noqa: E402
from mexit_tf.converters.stage_builder import build_stage_models  # noqa: E402
from mexit_tf.converters.tflite_conversion import convert_to_tflite  # noqa: E402

import mexit_tf  # noqa: E402
from mexit_tf.gating.exit_policy import ExitPolicy  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402
from mexit_tf.runtime.compiled_stage import CompiledStage  # noqa: E402
from mexit_tf.runtime.latency_model import LatencyModel  # noqa: E402
from mexit_tf.runtime.litert_stage import LiteRTStage  # noqa: E402
from mexit_tf.runtime.manifest import read_manifest  # noqa: E402

# The latency model's safety settings: its defaults (which this study chose) and, at the
# CPU preset, alternatives beside them: the former default quantile, and a margin.
DEFAULT_SETTING = {name: inspect.signature(LatencyModel).parameters[name].default
                   for name in ("quantile", "margin")}
ALTERNATIVES = ({"quantile": 0.95, "margin": 0.0}, {"quantile": 0.99, "margin": 0.25})


def setting_label(setting) -> str:
    return f"q={setting['quantile']} m={setting['margin']}"


DEFAULT_LABEL = setting_label(DEFAULT_SETTING)


def study_exit_heads(layers):
    """An exit after every block; exit 1 with a CNN head. Only exit 1 answers at the
    tightest deadlines, where its rival is one block trained alone (as quick): with
    `mlp_ee` there the bundle was 1.4 pts less accurate than that rival (0.785 vs
    0.798, all 10k test images); the exit-head study found the CNN heads the most
    accurate early exits at this budget, for ~0.06 ms more."""
    return {b: "cnn_ignore" if b == 1 else "mlp_ee" for b in range(1, layers)}


class StaticModel:
    """One single-file model (a truncated backbone), run as `predict` would run it."""

    def __init__(self, model):
        (stage,) = build_stage_models(model)
        data = convert_to_tflite(stage)
        self.stage = CompiledStage(data, LiteRTStage(data).spec)

    def __call__(self, x):
        logits, _ = self.stage.run_roles({"image": np.asarray(x, np.float32)[None]})
        return int(logits.argmax())


def candidates_for(bundle, statics, deadlines, settings, seed: int = 0):
    """name -> (deadline or None, call(x) -> label).

    Every bundle candidate loads the bundle for itself (its own stages, latency model
    and Python objects) and, like each static model, runs once per example: then no
    candidate is warmer in cache than another. (Sharing loaded stages between the
    bundle candidates, used ~40 times per example, while each static model ran once,
    made stage 0's path ~6 us (4%) quicker than the same work done by a candidate used
    once: at the CPU preset, enough to move a late share near stage 0's median by 7
    points.) Per latency setting and deadline, the gated candidate, the ungated one
    and their floor run on one load's stages (each with a latency model of its own):
    two loads of one bundle ran stage 0 up to 15 us (7%) apart at the CPU preset, so
    only a floor on the same loaded stages bounds a candidate."""
    manifest = read_manifest(bundle)
    manifest_ms = [s["cost"]["latency_ms"] for s in manifest["stages"]]

    def own(setting=DEFAULT_SETTING):
        return Cascade(bundle, latency_model=LatencyModel.from_manifest(manifest, **setting))

    def anytime(cascade, deadline, run_to_end, exits=False):
        return lambda x: _label(cascade.predict(x, deadline_ms=deadline, run_to_end=run_to_end),
                                exits)

    def budgeted(cascade, policy):
        return lambda x: _label(cascade.predict(x, policy))

    def anytime_and_floor(d, setting):
        gated = own(setting)
        ungated = gated.sharing_stages(LatencyModel.from_manifest(manifest, **setting))
        # Stage 0 alone: a deadline no second stage fits, no policy to ask.
        floor = gated.sharing_stages(LatencyModel.from_manifest(manifest))
        label = setting_label(setting)
        return {f"gated {label}@{d}": (d, anytime(gated, d, False, exits=True)),
                f"ungated {label}@{d}": (d, anytime(ungated, d, True, exits=True)),
                f"floor {label}@{d}": (None, anytime(floor, 1e-6, True))}

    makers = []
    for d in deadlines:
        budget = ExitPolicy.from_dict({"type": "budget", "budget": d, "stage_costs": manifest_ms,
                                       "unit": "ms"})
        makers.append(lambda d=d, p=budget: {f"budget@{d}": (d, budgeted(own(), p))})
        for setting in settings:
            makers.append(lambda d=d, s=setting: anytime_and_floor(d, s))
    # Loaded in a shuffled order, so that where a load lands in memory favours no kind
    # of candidate.
    random.Random(seed).shuffle(makers)
    calls = {}
    for make in makers:
        calls.update(make())
    for depth, static in statics.items():
        calls[f"truncated {depth}"] = (None, static)
    return calls


def _label(result, exits=False):
    top = int(result.output.argmax())
    return (top, result.exit_index) if exits else top


def sweep(calls, images, labels, warmup: int, seed: int = 0) -> dict:
    """Every call on every example, order shuffled per example; per call: answers, ms."""
    order = list(calls)
    shuffler = random.Random(seed)
    answers = {name: [] for name in calls}
    millis = {name: [] for name in calls}
    exits = {name: [] for name in calls}
    for row in range(-warmup, len(images)):
        if row > 0 and row % max(len(images) // 10, 1) == 0:
            print(f"  {row}/{len(images)} examples", flush=True)  # a line, also when piped
        x = images[row % len(images)]
        shuffler.shuffle(order)
        for name in order:
            started = time.perf_counter()
            answer = calls[name][1](x)
            ms = (time.perf_counter() - started) * 1000.0
            if row < 0:
                continue
            if isinstance(answer, tuple):
                answer, exit_index = answer
                exits[name].append(exit_index)
            answers[name].append(answer)
            millis[name].append(ms)
    rows = {}
    for name in calls:
        ms = np.array(millis[name])
        row = {"mean_ms": round(float(ms.mean()), 4),
               "p99_ms": round(float(np.percentile(ms, 99)), 4)}
        if labels is not None:
            row["accuracy"] = round(float(np.mean(np.array(answers[name]) == labels)), 5)
        row["ms"] = ms
        if exits[name]:
            shares = np.bincount(exits[name]) / len(exits[name])
            row["exit_histogram"] = np.round(shares, 4).tolist()
        rows[name] = row
    return rows


def summarize(rows, deadlines, settings, has_accuracy) -> list[dict]:
    """Per deadline: every candidate's miss rate, accuracy, p99; for the anytime
    candidates with the default latency setting, the best static model as punctual."""
    table = []
    statics = [name for name in rows if name.startswith("truncated")]
    anytime = [f"{kind} {setting_label(s)}" for s in settings for kind in ("gated", "ungated")]
    for d in deadlines:
        def missed(name, d=d):
            return round(float(np.mean(rows[name]["ms"] > d)), 5)

        entry = {"deadline_ms": d, "floor_miss_rate": missed(f"floor {DEFAULT_LABEL}@{d}"),
                 "candidates": {}}
        for name in [f"{n}@{d}" for n in anytime] + [f"budget@{d}"] + statics:
            row = rows[name]
            entry["candidates"][name.split("@")[0]] = {
                "miss_rate": missed(name), "p99_ms": row["p99_ms"], "mean_ms": row["mean_ms"],
                **({"accuracy": row["accuracy"]} if has_accuracy else {}),
                **({"exit_histogram": row["exit_histogram"]} if "exit_histogram" in row else {}),
                # An anytime candidate's own floor: stage 0 alone on its loaded stages.
                **({"floor_miss_rate": missed("floor " + name.split(" ", 1)[1])}
                   if name.split(" ")[0] in ("gated", "ungated") else {})}
        for kind in ("gated", "ungated"):
            candidate = entry["candidates"][f"{kind} {DEFAULT_LABEL}"]
            if has_accuracy:
                candidate.update(best_static(entry["candidates"], candidate))
        table.append(entry)
    return table


def best_static(candidates, anytime) -> dict:
    """The most accurate static model (truncated or budget) late no more often than
    `anytime`, and `anytime`'s accuracy minus its (None when no static is as punctual)."""
    rivals = {name: c for name, c in candidates.items()
              if (name.startswith("truncated") or name == "budget")
              and c["miss_rate"] <= anytime["miss_rate"]}
    best = max(rivals, key=lambda n: rivals[n]["accuracy"]) if rivals else None
    return {"best_static": best, "accuracy_vs_best_static":
            round(anytime["accuracy"] - rivals[best]["accuracy"], 5) if best else None}


def measure_model(name, model, calibration, latency_runs, statics, images, labels, settings,
                  args, load) -> dict:
    """Exports `model`, sweeps deadlines from its stage 0 up, and runs every candidate over
    `images`, idle then loaded: the model's part of the result."""
    with tempfile.TemporaryDirectory(prefix="mexit-deadline-") as folder:
        bundle = Path(folder) / "bundle"
        export_bundle(model, bundle, calibration, latency_runs=latency_runs, progress=False)
        cascade = Cascade(bundle)
        deadlines = deadline_sweep(cascade, 3 if args.smoke else args.deadlines)
        calls = candidates_for(bundle, statics, deadlines, settings)
        states = {}
        for state in ("idle", "loaded"):
            print(f"{name}: {state} sweep over {len(images)} examples, {len(calls)} candidates",
                  flush=True)
            if state == "loaded":
                with load:
                    rows = sweep(calls, images, labels, args.warmup)
            else:
                rows = sweep(calls, images, labels, args.warmup)
            states[state] = summarize(rows, deadlines, settings, labels is not None)
        return {"deadlines_ms": deadlines,
                "stage_ms_at_export": [s["cost"]["latency_ms"]
                                       for s in cascade.manifest["stages"]],
                "policy": cascade.manifest["policy"], "examples": len(images),
                "states": states}


def deadline_sweep(cascade, count: int, probes: int = 50) -> list[float]:
    """From stage 0's latency as this runtime takes it (the median of `probes` runs of stage
    0 alone through the deadline path, input preparation and answer included: the least
    deadline anything can meet about half the time) to 1.5x all stages' export latencies,
    geometric. The manifest's own stage-0 figure leaves out the runtime's work, and no
    candidate ever met a deadline that short."""
    probe = cascade.sharing_stages(LatencyModel.from_manifest(cascade.manifest))
    image = np.zeros(cascade.input_shape, np.float32)
    millis = []
    for _ in range(probes):
        started = time.perf_counter()
        probe.predict(image, deadline_ms=1e-6, run_to_end=True)
        millis.append((time.perf_counter() - started) * 1000.0)
    low = float(np.median(millis))
    high = max(1.5 * sum(s["cost"]["latency_ms"] for s in cascade.manifest["stages"]), 2 * low)
    return [round(float(v), 4) for v in np.geomspace(low, high, count)]


def cpu_preset(args, load):
    study = study_setup(args)
    data, recipe, work, layers = study.data, study.recipe, study.work, study.num_layers
    model, _ = train_cached(
        "every_block_cnn_first",
        lambda: MultiExitModel(study_backbone(args.smoke), exits=study_exit_heads(layers),
                               num_outputs=study.num_classes), data, recipe, work)
    truncated = {depth: train_cached(
        f"truncated_{depth}",
        lambda d=depth: MultiExitModel(study_backbone(args.smoke, d), exits={},
                                       num_outputs=study.num_classes), data, recipe, work)[0]
        for depth in range(1, layers + 1)}
    statics = {d: StaticModel(m) for d, m in truncated.items()}
    result = measure_model(
        "CPU preset", model, (data.x_val, data.y_val), study.runs, statics,
        data.x_test[:args.examples], np.asarray(data.y_test[:args.examples]),
        (DEFAULT_SETTING, *(() if args.smoke else ALTERNATIVES)), args, load)
    return {"data": data.describe(), "recipe": recipe, **result}


def ti16(args, load):
    """ViT-Ti/16 at 224x224, random init; exits after blocks 3/6/9; synthetic images."""
    import keras

    keras.utils.set_random_seed(0)
    shape = (32, 32, 3) if args.smoke else (224, 224, 3)
    preset = dict(patch_size=8, hidden_dim=16, num_layers=4, num_heads=2, mlp_dim=32) \
        if args.smoke else None

    def backbone(depth=None):
        if preset:
            return mexit_tf.ViTBackbone(shape, **{**preset, "num_layers": depth or 4})
        overrides = {"num_layers": depth} if depth else {}
        return mexit_tf.ViTBackbone.from_preset("Ti/16", image_shape=shape, **overrides)

    every = 1 if args.smoke else 3
    layers = backbone().num_layers
    model = MultiExitModel(backbone(), exits={b: "mlp_ee" for b in range(every, layers, every)},
                           num_outputs=10)
    rng = np.random.default_rng(0)
    calibration = (rng.integers(0, 256, (64, *shape)).astype("uint8"), rng.integers(0, 10, 64))
    images = rng.integers(0, 256, (args.ti_examples, *shape)).astype("uint8")
    statics = {d: StaticModel(MultiExitModel(backbone(d), exits={}, num_outputs=10))
               for d in range(every, layers + 1, every)}
    result = measure_model("Ti/16 224x224", model, calibration, 10, statics, images, None,
                           (DEFAULT_SETTING,), args, load)
    return {"data": "synthetic random images (latency only; random init, no accuracy)",
            **result}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    study_arguments(parser)
    add_dataset_argument(parser)
    parser.add_argument("--examples", type=int, default=10000,
                        help="CPU preset test examples (all 10k: a 1-point gap is ~2 s.d.)")
    parser.add_argument("--ti-examples", type=int, default=1500,
                        help="Ti/16 examples: enough that a 1-point miss gap is ~2 s.d.")
    parser.add_argument("--deadlines", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=20, help="unrecorded examples first")
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--load-duty", type=float, default=0.5)
    # Nearer the CPU preset's training (55k images x 7 epochs) than the other studies' 2
    # epochs: exit 1 gains 2 pts (0.846 -> 0.867), one block trained alone 3 (0.798 ->
    # 0.830). Its own cache, so the 2-epoch models of the other studies stay.
    parser.set_defaults(epochs=6, work="runs/study6")
    args = parser.parse_args(argv)
    if args.smoke:
        args.examples, args.ti_examples, args.warmup = 12, 4, 2
    started = time.perf_counter()
    load = BackgroundLoad(args.load_processes, args.load_duty, 20.0,
                          seconds=30 if args.smoke else 1800)
    # Ti/16 runs on synthetic images: its figures do not depend on --dataset (clean run only).
    result = {"load": load.describe(), "default_setting": DEFAULT_LABEL,
              "dataset": args.dataset, "cpu_preset": cpu_preset(args, load),
              "ti16_224": ti16(args, load) if args.dataset == "fashion_mnist" else None}
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    if not args.smoke:
        save_result(result_name("deadline_study", args), result,
                    f"python benchmarks/deadline_study.py --dataset {args.dataset} "
                    f"--train-images {args.train_images} --epochs {args.epochs} "
                    f"--examples {args.examples} --ti-examples {args.ti_examples} "
                    f"--deadlines {args.deadlines}", note=args.note)
    for name in ("cpu_preset", "ti16_224"):
        for state, table in (result[name] or {"states": {}})["states"].items():
            print(name, state, [(row["deadline_ms"], row["floor_miss_rate"],
                                 row["candidates"][f"gated {DEFAULT_LABEL}"]["miss_rate"],
                                 row["candidates"][f"ungated {DEFAULT_LABEL}"]["miss_rate"])
                                for row in table])
    return result


if __name__ == "__main__":
    main()
