"""A QAT model's learned int8 weights in a float model, for CPU int8 export."""

import keras
import numpy as np


def with_quantized_weights(qat_model):
    """Returns a float copy of a quantization-aware model whose kernels are the values
    its weight quantizers produce (each on its int8 grid); activation ranges dropped.

    This is what the CPU int8 bundle runs: int8 weights that QAT trained for, with
    activations quantized on the fly by the runtime (dynamic range), so the graph
    stays inside XNNPACK. `qat_model` is left untouched.

    Example:
    >>> qat = mexit_tf.quantize_aware(model); qat.fit(x, y)
    >>> cpu = with_quantized_weights(qat)        # plain float layers, int8-grid kernels
    """
    from mexit_tf.quantization.quantize_aware import quantizers_of

    config = qat_model.get_config()
    config["quantization"] = None
    float_model = type(qat_model).from_config(config)
    quantizer_variables = {id(v) for q in quantizers_of(qat_model) for v in q.variables}
    baked = {}
    for layer in qat_model._flatten_layers(include_self=False, recursive=True):
        quantizer = getattr(layer, "kernel_quantizer", None)
        if quantizer is not None:
            baked[id(layer.kernel)] = keras.ops.convert_to_numpy(quantizer(layer.kernel))
    values = [baked[id(v)] if id(v) in baked else keras.ops.convert_to_numpy(v)
              for v in qat_model.weights if id(v) not in quantizer_variables]
    shapes = [tuple(v.shape) for v in float_model.weights]
    if [tuple(np.shape(v)) for v in values] != shapes:
        raise ValueError("The QAT model's weights do not line up with its float twin's; "
                         "was a layer added after quantize_aware?")
    float_model.set_weights(values)
    float_model.data_source = qat_model.data_source
    return float_model
