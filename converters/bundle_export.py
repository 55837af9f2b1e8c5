"""Model -> bundle: stages, conversion, parity check, latency, calibration, manifest."""

import datetime
import warnings
from pathlib import Path

import keras
import numpy as np
from mexit_tf.converters.stage_builder import build_stage_models
from mexit_tf.converters.tflite_conversion import convert_to_tflite
from mexit_tf.converters.tflite_inspection import multiply_adds

from mexit_tf.atomic_files import write_directory_atomic, write_json_atomic
from mexit_tf.data.array_batches import example_count, take_rows
from mexit_tf.data.image_file import RESIZE_RULE
from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import softmax
from mexit_tf.models.audio_visual_model import AudioVisualModel, check_pairs
from mexit_tf.models.multi_exit_model import MultiExitModel
from mexit_tf.runtime.bundle_calibration import calibrate_bundle
from mexit_tf.runtime.bundle_folder import check_replaceable_bundle
from mexit_tf.runtime.delegation import FragmentationWarning, more_fragmented, xnnpack_delegation
from mexit_tf.runtime.litert_stage import LiteRTStage
from mexit_tf.runtime.manifest import FORMAT_VERSION, MANIFEST_NAME, sha256_of
from mexit_tf.versions import library_versions

FLOAT_TOLERANCE = 1e-4      # max relative error, float32 stages
REDUCED_AGREEMENT = 0.98    # top-1 agreement with Keras, float16 / dynamic stages
# int8 export only refuses a broken conversion here; how close int8 stays to
# the model is measured on the test split (tests, benchmarks/int8_quantization.py).
INT8_AGREEMENT = 0.9
CLEAR_MARGIN = 0.1          # top-1 minus top-2 softmax probability of a "sure" Keras answer


def load_multi_exit_model(path) -> MultiExitModel:
    """Loads a `.keras` file and checks it is a mexit_tf multi-exit model."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise MexitError(f"Model file {str(path)!r} does not exist.")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for bad files
        raise MexitError(f"{str(path)!r} is not a readable .keras model "
                         f"({type(error).__name__}: {str(error).splitlines()[0][:200]}).") from None
    if not isinstance(model, MultiExitModel):
        raise MexitError(f"{str(path)!r} holds a {type(model).__name__}, not a mexit_tf "
                         "MultiExitModel.")
    return model


def _head_type(model, index):
    heads = [*model.exit_heads, model.final_head]
    return getattr(heads[index], "head_type", None) or "classifier"


def check_parity(model, stage_files, parity_images, quantize) -> dict:
    """Runs the TFLite chain and the Keras model on the same images, exit by exit."""
    keras_outputs = model.predict(parity_images, verbose=0, batch_size=64)
    runners = [LiteRTStage(data, spec) for data, spec in stage_files]
    tflite = [[] for _ in runners]
    for row in range(example_count(parity_images)):
        state = _example(parity_images, row, runners[0].input_roles[0])
        for index, runner in enumerate(runners):
            tflite[index].append(runner.run_roles(state)[0][0])
    report, failures = {}, []
    minimum = INT8_AGREEMENT if quantize == "int8-static" else REDUCED_AGREEMENT
    for index, name in enumerate(model.exit_names):
        got, want = np.stack(tflite[index]), np.asarray(keras_outputs[name])
        finite = bool(np.isfinite(got).all())
        error = float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-12))
        # Top-1 agreement is a classifier's measure (a regression output is values). The
        # gate counts the answers Keras is sure of: a near-tie flips under any rounding,
        # which says nothing about whether the conversion is right.
        agreement = clear_agreement = None
        if not model.is_regression:
            same = got.argmax(-1) == want.argmax(-1)
            top2 = np.sort(softmax(want.astype(np.float64)), axis=-1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] >= CLEAR_MARGIN
            agreement = float(np.mean(same))
            clear_agreement = float(np.mean(same[clear])) if clear.any() else 1.0
        report[name] = {"max_relative_error": error, "top1_agreement": agreement,
                        "top1_agreement_clear": clear_agreement, "finite": finite}
        if not finite:
            failures.append(f"{name}: TFLite outputs are not finite")
        elif quantize == "float32" and error > FLOAT_TOLERANCE:
            failures.append(f"{name}: max relative error {error:.2e} > {FLOAT_TOLERANCE:.0e}")
        elif (quantize != "float32" and clear_agreement is not None
              and clear_agreement < minimum):
            failures.append(f"{name}: top-1 agreement {clear_agreement:.3f} < {minimum} on the "
                            f"examples Keras answers with a softmax margin >= {CLEAR_MARGIN}")
    if failures:
        raise MexitError("Parity check failed: " + "; ".join(failures))
    return report


def export_bundle(model, out_dir, calibration_data, labels=None, quantize="float32",
                  policy=None, target_loss=0.005, budget_ms=None, overwrite=False,
                  parity_examples=None, latency_runs=50, progress=True, source=None,
                  ptq=False, representative_examples=200, sigmas=1.0,
                  data_record=None, exit_placement=None) -> dict:
    """Exports `model` to a bundle folder; returns the manifest.

    `calibration_data=(x, y)` is a held-out split (validation, never test): it
    feeds the parity check and the policy's calibration. The bundle is built in
    a temporary folder beside `out_dir` and renamed into place only when every
    check passed, so a failed export leaves nothing behind and an existing
    bundle is replaced only with `overwrite=True`.

    `quantize="int8"` is the CPU int8 bundle: int8 weights, activations
    quantized by the runtime, every stage as unfragmented on XNNPACK as its
    float twin. The weights are a quantization-aware model's learned int8
    weights (`mexit_tf.quantization.quantize_aware`), or with `ptq=True` a float
    model's, rounded. `quantize="int8-static"` is the whole-int8 graph for
    NPU/DSP targets: from a QAT model's ranges, or with `ptq=True` calibrated on
    `representative_examples` of the calibration images. Each stage records how
    it maps onto XNNPACK (`delegation`); a quantized stage more fragmented than
    its float32 twin raises a `FragmentationWarning` naming the ops left out.
    `parity_examples` (default 32 for float32, 256 for quantized modes: their
    gate is an agreement rate) feed the parity check.

    `exit_placement` (a record from `exit_placement.place_exits` or
    `listed_placement`) says which exits of the full model were left out, and why.

    `data_record` (default: `model.data_source`) is written to the manifest's
    `data`, so later commands reload the same data. Only a folder that is a mexit
    bundle is ever replaced (`overwrite=True`); anything else at `out_dir` is refused.
    """
    if not isinstance(model, MultiExitModel):
        model = load_multi_exit_model(model)
    out_dir = Path(out_dir)
    check_replaceable_bundle(out_dir, overwrite)
    if data_record is None:
        data_record = model.data_source
    x_cal, y_cal = calibration_data
    _check_calibration_inputs(model, x_cal)
    if isinstance(model, AudioVisualModel) and quantize == "int8-static":
        raise MexitError("int8-static export of audio-visual models is not supported yet "
                         "(their stages take two inputs); use --quantize int8 --ptq, float32 "
                         "or float16.")
    if ptq and quantize not in ("int8", "int8-static"):
        raise MexitError(f"--ptq is post-training int8 quantization; it needs --quantize int8 "
                         f"or int8-static (received {quantize!r}).")
    source_model, int8_from = _int8_source(model, quantize, ptq)
    representative = x_cal[:representative_examples] if ptq and quantize == "int8-static" \
        else None
    if parity_examples is None:
        parity_examples = 32 if quantize == "float32" else 256

    def write(staging):
        manifest = _write_stages(source_model, staging, quantize, labels, x_cal,
                                 parity_examples, latency_runs, source, representative)
        manifest["int8_from"] = int8_from
        manifest["data"] = data_record
        if exit_placement is not None:
            manifest["exit_placement"] = exit_placement
        write_json_atomic(staging / MANIFEST_NAME, manifest)
        # The policy exit placement found for these exits is a start for their calibration.
        found = (exit_placement or {}).get("pruned", {}).get("policy")
        return calibrate_bundle(staging, x_cal, y_cal, policy, target_loss, budget_ms,
                                progress, manifest, sigmas, starts=[found] if found else [])

    return write_directory_atomic(out_dir, write)


def _int8_source(model, quantize, ptq):
    """The model whose stages are converted, and where int8 weights come from."""
    from mexit_tf.quantization import quantizers_of
    from mexit_tf.quantization.quantized_weights import with_quantized_weights

    qat = bool(quantizers_of(model))
    if quantize not in ("int8", "int8-static"):
        return model, None
    if qat and ptq:
        raise MexitError("This model is quantization-aware: int8 export uses what QAT learned, "
                         "so drop --ptq.")
    if not qat and not ptq:
        raise MexitError(f"--quantize {quantize} needs a quantization-aware model (mexit qat) "
                         "or --ptq for post-training quantization of this float model.")
    if quantize == "int8" and qat:
        return with_quantized_weights(model), "qat"
    return model, "qat" if qat else "ptq"


def _check_calibration_inputs(model, x_cal) -> None:
    if isinstance(model, AudioVisualModel):
        check_pairs(x_cal)
        parts = [("image", x_cal["image"], model.backbone.raw_input_shape),
                 ("waveform", x_cal["waveform"], model.audio_backbone.raw_input_shape)]
    elif isinstance(x_cal, dict):
        raise MexitError(f"This model takes one input; received a dict of {sorted(x_cal)}.")
    else:
        parts = [("input", x_cal, model.backbone.raw_input_shape)]
    for name, values, shape in parts:
        if len(values) == 0:
            raise MexitError("Calibration data is empty: received 0 examples.")
        if tuple(values.shape[1:]) != tuple(shape):
            raise MexitError(f"Calibration {name}s have shape {tuple(values.shape[1:])}; the "
                             f"model takes {tuple(shape)}.")


def _example(x, row, role) -> dict:
    """Example `row` of `x` as a stage state `{role: batch of one}`; an array's role is
    stage 0's single input (`image` or `waveform`)."""
    if not isinstance(x, dict):
        x = {role: x}
    return {name: values[row:row + 1].astype("float32") for name, values in x.items()}


def stage_inputs(stages, images) -> list:
    """What each stage receives when the Keras stages run in turn on `images`."""
    inputs, x = [], np.asarray(images, dtype="float32")
    for stage in stages:
        inputs.append(x)
        if len(stage.outputs) > 1:
            x = np.concatenate([np.asarray(stage(x[i:i + 1], training=False)[1])
                                for i in range(len(x))])
    return inputs


def _write_stages(model, folder, quantize, labels, x_cal, parity_examples, latency_runs, source,
                  representative=None):
    stages = build_stage_models(model)
    if representative is not None:
        representative = stage_inputs(stages, representative)
    stage_files, specs = [], []
    twins = _float_twin_delegation(model) if quantize != "float32" else None
    for index, stage in enumerate(stages):
        data = convert_to_tflite(stage, quantize, None if representative is None
                                 else representative[index])
        file = f"stage_{index}.tflite"
        (folder / file).write_bytes(data)
        probe = LiteRTStage(data, {"file": file, "output_roles": stage.output_roles}).spec
        block = [*model.exit_blocks, model.backbone.num_layers][index]
        spec = {"index": index, "file": file, "sha256": sha256_of(folder / file),
                "bytes": len(data), "exit": model.exit_names[index], "after_block": block,
                "head": _head_type(model, index), "inputs": probe["inputs"],
                "outputs": probe["outputs"],
                "cost": {"params": int(stage.count_params()), "macs": multiply_adds(data)}}
        spec["delegation"] = _delegation_record(data, index, twins, quantize)
        if isinstance(model, AudioVisualModel):
            spec["uses_audio"] = model.exit_uses_audio[index]
            # The stage that runs the audio branch: what skipping the audio saves.
            spec["runs_audio_branch"] = "waveform" in [i["role"] for i in probe["inputs"]]
        stage_files.append((data, spec))
        specs.append(spec)
    parity = check_parity(model, stage_files, take_rows(x_cal, slice(0, parity_examples)),
                          quantize)
    state = _example(x_cal, 0, stage_files[0][1]["inputs"][0]["role"])
    for data, spec in stage_files:
        runner = LiteRTStage(data, spec)
        feed = {role: state[role] for role in runner.input_roles}
        spec["cost"]["latency_ms"] = round(runner.median_latency_ms(feed, runs=latency_runs), 5)
        state.update({role: array for role, array in runner.run(feed)[0].items()
                      if role != "logits"})
    hidden_shapes = [output["shape"] for spec in specs for output in spec["outputs"]
                     if output["role"] == "hidden"]
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "task": "regression" if model.is_regression else "classification",
        # What a stage's `logits` output holds: class logits, a value, or a
        # regression mean and log-variance.
        "output": ("mean_log_variance" if model.predict_variance else
                   "value" if model.is_regression else "logits"),
        "input": model_input_spec(model, specs[0]["inputs"][0]["name"]),
        "labels": list(labels or []),
        "quantization": quantize,
        # Where int8 scales came from: "qat" (fake-quant ranges) or "ptq" (calibration images).
        "int8_ranges": (None if quantize != "int8-static" else
                        "ptq" if representative is not None else "qat"),
        # What stages hand on: ViT tokens (the same shape throughout) or CNN
        # feature maps (one shape per cut); each stage's inputs say it too.
        "hidden": {"dtype": "float32", "shape": hidden_shapes[0] if hidden_shapes else None,
                   "shapes": hidden_shapes},
        "stages": specs,
        # A placeholder until calibration: every input runs to the final exit.
        "policy": {"type": "budget", "budget": 1e9, "stage_costs": [1.0] * len(specs)},
        "parity": parity,
        "data_source": source,
        "versions": library_versions(),
    }


def _float_twin_delegation(model) -> list[dict]:
    """Each float32 stage's delegation: what a quantized stage is compared with."""
    from mexit_tf.quantization import quantizers_of
    from mexit_tf.quantization.quantized_weights import with_quantized_weights

    twin = with_quantized_weights(model) if quantizers_of(model) else model
    return [xnnpack_delegation(convert_to_tflite(stage)) for stage in build_stage_models(twin)]


def _delegation_record(data, index, twins, quantize) -> dict:
    record = xnnpack_delegation(data)
    if twins is not None:
        twin = twins[index]
        record["float32_partitions"] = twin["partitions"]
        if more_fragmented(record, twin):
            outside = ", ".join(f"{op} x{count}" for op, count in record["ops_outside"].items())
            record["warning"] = (
                f"stage {index} ({quantize}) runs as {record['partitions']} XNNPACK partitions "
                f"(float32: {twin['partitions']}); left outside: {outside}")
            warnings.warn(f"{record['warning']}. On a CPU, prefer --quantize int8; "
                          "int8-static is for NPU/DSP targets.", FragmentationWarning,
                          stacklevel=4)
    return record


def model_input_spec(model, name: str | None = None) -> dict:
    """The manifest's `input`: stage 0's, or for an audio-visual model both `parts`
    (`image`, then `waveform`; `shape` repeats the image's for readers of one input)."""
    if not isinstance(model, AudioVisualModel):
        return input_spec(model.backbone, name)
    parts = [input_spec(model.backbone, "image"), input_spec(model.audio_backbone, "waveform")]
    return {"name": None, "kind": "audiovisual", "shape": parts[0]["shape"],
            "dtype": "float32", "parts": parts,
            "preprocessing": "none: feed raw pixels as 'image' and mono samples as 'waveform' "
                             "(parts below); the audio is read only by the stage of the "
                             "first audio-visual exit"}


def input_spec(backbone, name: str | None = None) -> dict:
    """A manifest's `input`: what stage 0 takes, raw pixels (NHWC, 0..255) or raw mono
    samples (-1..1); `name` is stage 0's input tensor."""
    shape = [1, *backbone.raw_input_shape]
    if backbone.input_kind == "audio":
        frontend = backbone.frontend
        return {"name": name, "kind": "audio", "shape": shape, "dtype": "float32",
                "layout": "samples", "value_range": [-1.0, 1.0],
                "sample_rate": frontend.sample_rate, "channels": 1,
                "preprocessing": "none: feed mono samples at sample_rate; stage 0 computes "
                                 "the log-mel spectrogram (frontend below)",
                "frontend": keras.saving.serialize_keras_object(frontend)["config"]}
    spec = {"name": name, "kind": "image", "shape": shape, "dtype": "float32", "layout": "NHWC",
            "value_range": [0.0, 255.0],
            # How readers bring an image of another size to `shape` (image_file.py).
            "resize": RESIZE_RULE}
    if not hasattr(backbone, "pixel_scale"):  # a CNN: its own layers scale the pixels
        return {**spec, "preprocessing": "none: feed raw pixel values; stage 0 holds the "
                                         "CNN's own preprocessing layers"}
    steps = "x * pixel_scale + pixel_offset"
    if getattr(backbone, "pixel_mean", None) is not None:
        # A pretrained model's per-channel normalisation (--from): folded into stage 0
        # too, and said here so nobody applies it a second time.
        steps += (f", then (x - pixel_mean) / pixel_std per channel with pixel_mean "
                  f"{_rounded(backbone.pixel_mean)} and pixel_std {_rounded(backbone.pixel_std)}")
    return {**spec, "preprocessing": f"none: feed raw pixel values; stage 0 computes {steps}",
            "pixel_scale": backbone.pixel_scale, "pixel_offset": backbone.pixel_offset}


def _rounded(values) -> list:
    return [round(float(value), 6) for value in values]
