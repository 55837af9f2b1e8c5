"""Keras stage -> TFLite flatbuffer with builtin ops only and frozen weights."""

import warnings

import numpy as np

from mexit_tf.errors import MexitError

# "int8" is the CPU int8 mode: int8 weights, activations quantized on the fly by the
# runtime, so every stage stays inside XNNPACK as its float twin does. "int8-static"
# quantizes every tensor ahead of time: for NPUs and DSPs that run whole-int8 graphs;
# on a CPU, XNNPACK has no int8 kernels for its softmax, GELU and LayerNorm pieces and
# the stage falls apart into dozens of partitions (see converters/delegation.py).
# "dynamic" is int8 from a float model's weights (the same graph as `int8` with --ptq).
QUANTIZE_MODES = ("float32", "float16", "dynamic", "int8", "int8-static")


def is_quantization_aware(stage) -> bool:
    from mexit_tf.quantization import quantizers_of

    return bool(quantizers_of(stage))


def convert_to_tflite(stage, quantize: str = "float32", representative=None) -> bytes:
    """Converts a batch-1 Keras model to TFLite.

    Weights are frozen into constants first: converting a function that still
    reads resource variables can leave READ_VARIABLE ops that give NaN at run
    time. Only builtin ops are allowed, so the file runs on stock LiteRT.

    `quantize="dynamic"` (and `"int8"`, which `export_bundle` turns into
    dynamic-range conversion of the weights it chose) stores int8 weights; the
    runtime quantizes activations per run. `quantize="int8-static"` takes its
    ranges from the fake-quant layers of a quantization-aware stage; for a float
    stage it needs `representative`, an array of the stage's own inputs
    (post-training quantization). The matmuls (FULLY_CONNECTED, BATCH_MATMUL,
    CONV_2D) then run in int8, while LayerNorm, residual adds and the stage's
    float32 inputs and outputs stay float, with QUANTIZE/DEQUANTIZE at the seams.
    """
    if quantize not in QUANTIZE_MODES:
        raise MexitError(f"Unknown quantization {quantize!r}; choose one of "
                         f"{', '.join(QUANTIZE_MODES)}.")
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    if quantize == "int8":
        quantize = "dynamic"  # the weights were chosen upstream (QAT grid or float)
    qat = is_quantization_aware(stage)
    if qat and quantize != "int8-static":
        raise MexitError(f"Stage {stage.name!r} is quantization-aware; export it with "
                         f"--quantize int8 or int8-static (received {quantize!r}).")
    if quantize == "int8-static":
        _check_int8_source(stage, qat, representative)

    signature = [tf.TensorSpec(tuple(i.shape), tf.float32, name=i.name) for i in stage.inputs]

    @tf.function(input_signature=signature)
    def serve(*inputs):
        return stage(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8-static" and not qat:
        samples = np.asarray(representative, dtype="float32")
        converter.representative_dataset = lambda: ([sample[None]] for sample in samples)
    import logging

    from mexit_tf.native_stderr import quiet_native_stderr

    # The converter warns that from_concrete_functions without a trackable is
    # deprecated; on frozen functions that path is exactly what we want. It also
    # warns that our float32 stage inputs have no quantization statistics: they
    # are meant to stay float.
    logging.getLogger("absl").setLevel(logging.ERROR)
    with quiet_native_stderr(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return converter.convert()


def _check_int8_source(stage, qat, representative):
    if qat:
        from mexit_tf.quantization import quantizers_of

        unset = [q.name for q in quantizers_of(stage) if not q.has_range]
        if unset:
            raise MexitError(
                f"Stage {stage.name!r} is quantization-aware but {len(unset)} activation "
                f"range(s) were never learned (e.g. {unset[0]!r}); fine-tune it with fit "
                "(mexit qat) before an int8 export.")
        if representative is not None:
            raise MexitError("This model is quantization-aware: int8 export uses its QAT "
                             "ranges, so drop --ptq and the representative data.")
        return
    if representative is None:
        raise MexitError(
            f"Stage {stage.name!r} has no QAT ranges and no representative data was given: "
            "fine-tune with `mexit qat` first, or pass --ptq for post-training quantization.")
    expected = tuple(stage.inputs[0].shape[1:])
    received = tuple(np.shape(representative)[1:])
    if len(stage.inputs) != 1 or received != expected or len(representative) == 0:
        shape = ", ".join(map(str, expected))
        raise MexitError(f"Representative data for stage {stage.name!r} has shape "
                         f"{np.shape(representative)}; expected (N, {shape}) with N > 0.")
