"""Keras stage -> TFLite flatbuffer with builtin ops only and frozen weights."""

from mexit_tf.errors import MexitError

QUANTIZE_MODES = ("float32", "float16", "dynamic")


def convert_to_tflite(stage, quantize: str = "float32") -> bytes:
    """Converts a batch-1 Keras model to TFLite.

    Weights are frozen into constants first: converting a function that still
    reads resource variables can leave READ_VARIABLE ops that give NaN at run
    time. Only builtin ops are allowed, so the file runs on stock LiteRT.
    """
    if quantize not in QUANTIZE_MODES:
        raise MexitError(f"Unknown quantization {quantize!r}; choose one of "
                         f"{', '.join(QUANTIZE_MODES)}.")
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    signature = [tf.TensorSpec(tuple(i.shape), tf.float32, name=i.name) for i in stage.inputs]

    @tf.function(input_signature=signature)
    def serve(*inputs):
        return stage(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize in ("float16", "dynamic"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    import logging

    from mexit_tf.native_stderr import quiet_native_stderr

    # The converter warns that from_concrete_functions without a trackable is
    # deprecated; on frozen functions that path is exactly what we want.
    logging.getLogger("absl").setLevel(logging.ERROR)
    with quiet_native_stderr():
        return converter.convert()

