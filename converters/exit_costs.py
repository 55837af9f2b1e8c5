"""What each early exit costs in a bundle: its head plus its stage boundary, measured."""


import numpy as np
from mexit_tf.converters.stage_builder import build_stage_models
from mexit_tf.converters.tflite_conversion import convert_to_tflite

from mexit_tf.errors import MexitError
from mexit_tf.models.exit_subset import keep_exits
from mexit_tf.runtime.compiled_stage import CompiledStage
from mexit_tf.runtime.interleaved_timing import interleaved_medians
from mexit_tf.runtime.litert_stage import LiteRTStage
from mexit_tf.runtime.manifest import read_manifest, stage_file

ENGINE = "LiteRT CompiledModel, 1 thread"


def measure_exit_costs(model, bundle, image, runs: int = 200, warmup: int = 20) -> dict:
    """Per early exit k: (stage k, then stage k+1) minus the one stage that runs the same
    blocks without exit k (what a bundle with k dropped runs), in ms.

    That difference is what exit k adds: its head's compute and one more stage
    boundary (a second invocation, the tokens handed on). `model` is the model
    the bundle's stages were converted from (for int8: the one with int8-grid
    weights), `image` one raw input. Every timed call runs in alternation with
    the others, in an order shuffled each round (drift of a shared machine then
    falls on all alike); the figures are medians of `runs` rounds, LiteRT's
    CompiledModel (the runtime's engine) on 1 thread. Also returns each full
    stage's median alone (`stage_ms`), timed in the same rounds.
    """
    manifest = read_manifest(bundle)
    quantize = manifest["quantization"]
    if quantize == "int8-static":
        raise MexitError("Exit costs of an int8-static bundle are not measured (its merged "
                         "stages would need new ranges); choose its exits with --exits.")
    if len(manifest["stages"]) != len(model.exit_names):
        raise MexitError(f"The bundle has {len(manifest['stages'])} stages; the model has "
                         f"{len(model.exit_names)} exits: not the model it was exported from.")
    stages = [CompiledStage(stage_file(bundle, spec["file"]), spec)
              for spec in manifest["stages"]]
    feeds = _stage_inputs(stages, image)
    calls = {f"stage {k}": _chain([stage], feeds[k]) for k, stage in enumerate(stages)}
    for k, name in enumerate(model.exit_names[:-1]):
        merged_model = build_stage_models(keep_exits(model, [n for n in model.exit_names
                                                             if n != name]))[k]
        data = convert_to_tflite(merged_model, quantize)
        merged = CompiledStage(data, LiteRTStage(data, {"output_roles":
                                                        merged_model.output_roles}).spec)
        stages.append(merged)  # kept alive for the timing, closed below
        # The pair runs on loads of its own: shared with the single-stage calls, its
        # stages ran three times a round to the merged stage's once, and came out
        # warmer in cache (the merged stage measured slower than the two it replaces).
        pair = [CompiledStage(stage_file(bundle, manifest["stages"][j]["file"]),
                              manifest["stages"][j]) for j in (k, k + 1)]
        stages += pair
        calls[f"pair {k}"] = _chain(pair, feeds[k])
        calls[f"merged {k}"] = _chain([merged], feeds[k])
    try:
        medians = interleaved_medians(calls, runs, warmup)
    finally:
        for stage in stages:
            stage.close()
    early = range(len(model.exit_names) - 1)
    return {"exits": model.exit_names,
            "stage_ms": [round(medians[f"stage {k}"], 5) for k in range(len(feeds))],
            "pair_ms": [round(medians[f"pair {k}"], 5) for k in early],
            "merged_ms": [round(medians[f"merged {k}"], 5) for k in early],
            "head_ms": [round(medians[f"pair {k}"] - medians[f"merged {k}"], 5) for k in early],
            "runs": runs, "engine": ENGINE, "quantization": quantize}


def _stage_inputs(stages, image) -> list[dict]:
    """What each stage takes, as arrays by role, when the stages run in turn on `image`."""
    state = {stages[0].input_roles[0]: np.asarray(image, np.float32)[None]}
    feeds = []
    for stage in stages:
        feeds.append({role: np.array(state[role]) for role in stage.input_roles})
        outputs, _ = stage.run(feeds[-1])
        state.update({role: value for role, value in outputs.items() if role != "logits"})
    return feeds


def _chain(stages, feed):
    """One call that runs `stages` in turn from `feed`, handing buffers on as the runtime
    does, and reads each stage's logits (as the cascade does, to ask its policy)."""
    def call():
        state = dict(feed)
        for stage in stages:
            stage.run_roles(state)
    return call
