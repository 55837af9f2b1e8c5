"""Every quantization mode side by side: speed, XNNPACK partitions, size and per-exit accuracy.

Modes: float32, float16, CPU int8 (`--quantize int8`: int8 weights from QAT or PTQ,
activations quantized by the runtime), int8-static (the whole-int8 graph, from QAT
ranges or PTQ), and LiteRT Quantizer recipes applied to the float32 stage files
(when `litert-quantizer` is installed). Each mode's chain of stages is timed in
one shuffled alternation with every other mode (medians, 1 and 2 threads).

- CPU preset (XS/4, 28x28, a trained model): accuracy per exit on the real
  Fashion-MNIST test split, each bundle's policy recalibrated on its own stages.
- ViT-Ti/16 and ViT-S/16 at 224x224 (random init, an mlp_ee exit after block 6):
  latency, partitions and size only.

    python benchmarks/int8_quantization.py --model runs/fmnist/model.keras \\
        --qat-model runs/qat/model.keras
    python benchmarks/int8_quantization.py --smoke     # tiny, for tests
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, interleaved_medians, save_result, smoke_model_and_data  # noqa: E402
from mexit_tf.converters.bundle_export import (  # noqa: E402
    calibrate_bundle,
    export_bundle,
    load_multi_exit_model,
    stage_inputs,
)
from mexit_tf.converters.stage_builder import build_stage_models  # noqa: E402
from mexit_tf.converters.tflite_conversion import convert_to_tflite  # noqa: E402

from mexit_tf.gating import policy_outcome  # noqa: E402
from mexit_tf.gating.exit_policy import ExitPolicy  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402
from mexit_tf.quantization import quantize_aware  # noqa: E402
from mexit_tf.quantization.quantized_weights import with_quantized_weights  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402
from mexit_tf.runtime.delegation import xnnpack_delegation  # noqa: E402
from mexit_tf.runtime.litert_stage import LiteRTStage  # noqa: E402
from mexit_tf.runtime.manifest import MANIFEST_NAME, sha256_of  # noqa: E402
from mexit_tf.training.evaluation import exit_scores, predict_exits  # noqa: E402

# mode: (export quantize, weights from QAT?); recipes of the LiteRT Quantizer follow.
MODES = {"float32": ("float32", False), "float16": ("float16", False),
         "int8 (QAT)": ("int8", True), "int8 (PTQ)": ("int8", False),
         "int8-static (QAT)": ("int8-static", True), "int8-static (PTQ)": ("int8-static", False)}
RECIPES = ("dynamic_wi8_afp32", "weight_only_wi8_afp32")


def _final_exit_model(model):
    """The backbone and final head alone: the model without early exits."""
    return MultiExitModel(model.backbone, exits={}, num_outputs=model.num_outputs,
                          final_head=model.final_head)


def quantizer_recipe(data: bytes, recipe: str) -> bytes:
    """One float32 stage file quantized by the LiteRT Quantizer with a named recipe."""
    import contextlib
    import io

    from litert_quantizer import quantizer
    from litert_quantizer import recipe as recipes

    from mexit_tf.native_stderr import quiet_native_stderr

    engine = quantizer.Quantizer(data)
    engine.load_quantization_recipe(getattr(recipes, recipe)())
    with quiet_native_stderr(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        return bytes(engine.quantize().quantized_model)


def _has_quantizer() -> bool:
    try:
        import litert_quantizer  # noqa: F401
    except ImportError:
        return False
    return True


def _chain(files, threads):
    """A zero-argument callable running every stage in turn on one fixed input."""
    runners = [LiteRTStage(data, num_threads=threads) for data in files]
    shape = [1, *runners[0].spec["inputs"][0]["shape"][1:]]
    x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")

    def run():
        hidden = x
        for runner in runners:
            hidden = runner.run(hidden)[0].get("hidden")
    return run


def time_modes(files: dict, threads: int, runs: int, extra=None) -> dict:
    """Median ms of each mode's chain of stages (and of `extra` callables), side by side."""
    candidates = {name: _chain(stage_files, threads) for name, stage_files in files.items()}
    candidates.update(extra or {})
    return interleaved_medians(candidates, runs, warmup=max(3, runs // 5))


def _describe(files: dict) -> dict:
    return {name: {"bytes": sum(len(f) for f in stage_files),
                   "stages": [xnnpack_delegation(f) for f in stage_files]}
            for name, stage_files in files.items()}


def deployment_size(vit: str, runs: int, smoke: bool = False) -> dict:
    """Latency, partitions and size of every mode for a random-init ViT at 224x224."""
    import keras

    import mexit_tf

    keras.utils.set_random_seed(0)
    if smoke:
        model, _ = smoke_model_and_data()
        shape = (8, 8, 1)
    else:
        shape = (224, 224, 3)
        backbone = mexit_tf.ViTBackbone.from_preset(vit, image_shape=shape)
        model = mexit_tf.MultiExitModel(backbone, exits={6: "mlp_ee"}, num_outputs=10)
    images = np.random.default_rng(1).uniform(0, 255, (8, *shape)).astype("float32")
    qat = quantize_aware(model)
    qat(images, training=True)  # random init: one pass gives the activation ranges
    files = {}
    for name, (quantize, from_qat) in MODES.items():
        if quantize == "int8":
            source = with_quantized_weights(qat) if from_qat else model
            files[name] = [convert_to_tflite(s, "int8") for s in build_stage_models(source)]
        elif quantize == "int8-static":
            stages = build_stage_models(qat if from_qat else model)
            files[name] = [convert_to_tflite(s, quantize, None if from_qat else x)
                           for s, x in zip(stages, stage_inputs(stages, images), strict=True)]
        else:
            files[name] = [convert_to_tflite(s, quantize) for s in build_stage_models(model)]
    if _has_quantizer():
        for recipe in RECIPES:
            files[f"LiteRT Quantizer {recipe}"] = [quantizer_recipe(f, recipe)
                                                   for f in files["float32"]]
    result = {"model": "smoke toy" if smoke else f"ViT-{vit} 224x224, exit after block 6",
              "modes": _describe(files)}
    result["latency_ms"] = {str(t): time_modes(files, t, runs) for t in (1, 2)}
    return result


def cpu_preset(model, qat, data, runs, target_loss, workdir, progress):
    """Every mode as a bundle of the trained model: accuracy, policy, latency, partitions."""
    import warnings

    from mexit_tf.runtime.delegation import FragmentationWarning

    bundles, files = {}, {}
    for name, (quantize, from_qat) in MODES.items():
        source = qat if from_qat else model
        with warnings.catch_warnings():  # int8-static fragments: recorded, not news here
            warnings.simplefilter("ignore", FragmentationWarning)
            export_bundle(source, workdir / name, (data.x_val, data.y_val), data.class_names,
                          quantize=quantize, ptq=quantize.startswith("int8") and not from_qat,
                          target_loss=target_loss / 100, latency_runs=5, progress=progress)
        bundles[name] = workdir / name
    if _has_quantizer():
        for recipe in RECIPES:
            name = f"LiteRT Quantizer {recipe}"
            bundles[name] = _requantized_bundle(workdir / "float32", workdir / recipe, recipe)
            calibrate_bundle(bundles[name], data.x_val, data.y_val,
                             target_loss=target_loss / 100, progress=False)
    y = np.asarray(data.y_test)
    outputs, accuracy, dynamic = {}, {}, {}
    for name, folder in bundles.items():
        cascade = Cascade(folder)
        files[name] = [(folder / s["file"]).read_bytes() for s in cascade.manifest["stages"]]
        outputs[name], _ = cascade.run_all(data.x_test, progress=progress)
        accuracy[name] = {exit: float(np.mean(o.argmax(-1) == y))
                          for exit, o in zip(cascade.exit_names, outputs[name], strict=True)}
    # The final exit alone, in CPU int8 and float32: what the early exits must beat.
    alone = {"float32 final exit alone": convert_to_tflite(
                 build_stage_models(_final_exit_model(model))[0]),
             "int8 (QAT) final exit alone": convert_to_tflite(build_stage_models(
                 _final_exit_model(with_quantized_weights(qat)))[0], "int8")}
    latency, stage_ms = {}, {}
    for threads in (1, 2):
        extra = {n: _chain([f], threads) for n, f in alone.items()}
        for name, stage_files in files.items():  # each stage too, for the policy's cost
            for index, data_k in enumerate(stage_files):
                extra[f"{name} stage {index}"] = _stage_call(data_k, stage_files[:index],
                                                             threads)
        medians = time_modes(files, threads, runs, extra)
        latency[str(threads)] = {n: round(v, 4) for n, v in medians.items()
                                 if " stage " not in n}
        stage_ms[str(threads)] = {name: [medians[f"{name} stage {i}"]
                                         for i in range(len(stage_files))]
                                  for name, stage_files in files.items()}
    for name in bundles:
        policy = ExitPolicy.from_dict(Cascade(bundles[name]).manifest["policy"])
        costs = stage_ms["1"][name]
        outcome = policy_outcome(policy, outputs[name], y, costs)
        alone_ms = latency["1"]["int8 (QAT) final exit alone" if "int8" in name
                                else "float32 final exit alone"]
        dynamic[name] = {
            "test_accuracy": round(outcome["accuracy"], 4),
            "loss_vs_own_final_exit_points": round(
                100 * (accuracy[name]["final"] - outcome["accuracy"]), 3),
            "mean_ms": round(outcome["mean_cost"], 4),
            "speedup_vs_final_exit_alone": round(alone_ms / outcome["mean_cost"], 3),
            "exit_histogram": outcome["exit_histogram"]}
    keras_float = exit_scores(predict_exits(model, data.x_test), y)
    keras_qat = exit_scores(predict_exits(qat, data.x_test), y)
    return {"modes": _describe(files), "latency_ms": latency,
            "stage_ms": {t: {n: [round(v, 4) for v in values] for n, values in block.items()}
                         for t, block in stage_ms.items()},
            "accuracy": {"keras float32": keras_float, "keras QAT": keras_qat, **accuracy},
            "max_exit_drop_points": {
                name: round(100 * max(keras_float[e] - accuracy[name][e] for e in keras_float),
                            3) for name in accuracy},
            "dynamic_inference": dynamic}


def _stage_call(data, earlier, threads):
    """Stage k alone, fed what stages 0..k-1 hand on for one fixed input."""
    runner = LiteRTStage(data, num_threads=threads)
    shape = [1, *LiteRTStage(earlier[0] if earlier else data).spec["inputs"][0]["shape"][1:]]
    x = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
    for stage in earlier:
        x = LiteRTStage(stage).run(x)[0]["hidden"]
    x = np.array(x, dtype="float32")
    return lambda: runner.run(x)


def _requantized_bundle(float_bundle: Path, out: Path, recipe: str) -> Path:
    """A copy of a float32 bundle with every stage file passed through a quantizer recipe."""
    import json

    shutil.copytree(float_bundle, out)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    for stage in manifest["stages"]:
        data = quantizer_recipe((out / stage["file"]).read_bytes(), recipe)
        (out / stage["file"]).write_bytes(data)
        stage.update(sha256=sha256_of(out / stage["file"]), bytes=len(data),
                     delegation=xnnpack_delegation(data))
    # Weights int8, activations float: the contract's "dynamic"; which tool made it, apart.
    manifest["quantization"] = "dynamic"
    manifest["quantizer"] = f"litert-quantizer {recipe}"
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="trained float .keras file (CPU preset)")
    parser.add_argument("--qat-model", help="its `mexit qat` fine-tune (made here if absent)")
    parser.add_argument("--target-loss", type=float, default=0.5, help="points")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--sizes", default="Ti/16,S/16",
                        help="deployment sizes timed at 224x224 (comma-separated)")
    parser.add_argument("--smoke", action="store_true")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    from mexit_tf.training.qat_finetune import finetune_qat

    if args.smoke:
        model, data = smoke_model_and_data()
        qat, _ = finetune_qat(model, data, epochs=1, batch_size=16, verbose=0,
                              jit_compile=False)
        runs, sizes = 3, ["smoke"]
    else:
        from mexit_tf.data import load_fashion_mnist

        model = load_multi_exit_model(args.model)
        data = load_fashion_mnist()
        qat = (load_multi_exit_model(args.qat_model) if args.qat_model
               else finetune_qat(model, data)[0])
        runs, sizes = args.runs, [s for s in args.sizes.split(",") if s]
    workdir = Path(tempfile.mkdtemp(prefix="mexit-int8-"))
    try:
        result = {"cpu_preset": cpu_preset(model, qat, data, runs, args.target_loss, workdir,
                                           progress=not args.smoke)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["cpu_preset"]["data"] = data.describe() + (" (SMOKE: untrained, synthetic)"
                                                      if args.smoke else "")
    for vit in sizes:
        print(f"timing {vit} at 224x224", flush=True)
        result[vit] = deployment_size(vit, max(3, runs // 2), smoke=args.smoke)
    result.update(runs=runs, target_loss_points=args.target_loss, qat=qat.quantization,
                  quantizer=_quantizer_version())
    if not args.smoke:
        save_result("int8_quantization", result,
                    f"python benchmarks/int8_quantization.py --model {args.model} "
                    f"--qat-model {args.qat_model} --runs {args.runs}", note=args.note)
    return result


def _quantizer_version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litert-quantizer")
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
