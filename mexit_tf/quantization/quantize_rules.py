"""What QAT quantizes: one rule per layer type, in one registry (TFMOT's split).

A rule attaches `FakeQuant` layers to a built layer and reroutes its call
through them. Layers in `KEEP_FLOAT` are left as they are on purpose; any
other layer that owns weights and has no rule is refused, so nothing is left
unquantized by accident.
"""

import inspect
import types

import keras
from keras import ops

from mexit_tf.layers.exits.resmlp_ee import ResMlpExit
from mexit_tf.layers.exits.sl_vit import SLViTExit
from mexit_tf.layers.multi_head_self_attention import MultiHeadSelfAttention
from mexit_tf.layers.patch_embedding import PatchEmbedding
from mexit_tf.quantization.fake_quant import FakeQuant

QUANTIZE_RULES = {}

# Float on purpose: LayerNorm statistics (mean, variance, rsqrt) lose too much
# in int8 and TFLite has no int8 LayerNorm; the rest carry no matmul.
KEEP_FLOAT = (
    keras.layers.LayerNormalization, keras.layers.Dropout, keras.layers.Rescaling,
    keras.layers.Softmax, keras.layers.Activation, keras.layers.Reshape,
    keras.layers.Flatten, keras.layers.InputLayer,
    # Their own weights act elementwise (class token, position embeddings,
    # affine and layer scales) and stay float; their Dense/Conv layers are
    # still quantized by the rules below.
    PatchEmbedding, ResMlpExit, SLViTExit,
)


def register_quantize_rule(*layer_types):
    """Decorator: `rule(layer, options)` quantizes layers of these types."""
    def register(rule):
        for layer_type in layer_types:
            QUANTIZE_RULES[layer_type] = rule
        return rule
    return register


def rule_for(layer):
    for layer_type in type(layer).__mro__:
        if layer_type in QUANTIZE_RULES:
            return QUANTIZE_RULES[layer_type]
    return None


def _attach(layer, **quantizers):
    # Quantizers join layers that are already built; Keras locks a built
    # layer's state, so unlock it as Keras' own `Layer.quantize` does.
    layer._tracker.unlock()
    for name, quantizer in quantizers.items():
        setattr(layer, name, quantizer)
    layer._tracker.lock()


def _activation_quantizer(layer, suffix, options):
    return FakeQuant("activation", num_bits=options["num_bits"],
                     ema_decay=options["ema_decay"], name=f"{layer.name}_{suffix}")


def _kernel_layer_rule(core):
    """Input, kernel and output fake-quant around `core(layer, x, kernel)` (pre-activation)."""
    def rule(layer, options):
        is_linear = layer.activation in (None, keras.activations.linear)
        quantizers = dict(
            input_quantizer=_activation_quantizer(layer, "input", options),
            kernel_quantizer=FakeQuant("weight", num_bits=options["num_bits"],
                                       name=f"{layer.name}_kernel"),
            output_quantizer=_activation_quantizer(layer, "output", options))
        if not is_linear:
            # GELU is not fused into FULLY_CONNECTED, so its input needs a range too.
            quantizers["preactivation_quantizer"] = _activation_quantizer(
                layer, "preactivation", options)
        _attach(layer, **quantizers)

        def call(self, inputs, training=None):
            kernel = self.kernel_quantizer(self.kernel, training=training)
            outputs = core(self, self.input_quantizer(inputs, training=training), kernel)
            if not is_linear:
                outputs = self.activation(self.preactivation_quantizer(outputs, training=training))
            return self.output_quantizer(outputs, training=training)

        _reroute_call(layer, call)
    return rule


def _reroute_call(layer, call):
    """Makes `layer.call` the quantized `call`, and tells Keras it takes `training`.

    Keras reads the call signature once, at construction; Conv's call has no
    `training` argument, and without it the quantizers would never learn ranges.
    """
    layer.call = types.MethodType(call, layer)
    layer._call_signature = inspect.signature(layer.call)
    layer.call_signature_parameters = list(layer._call_signature.parameters)
    layer._call_has_training_arg = True
    layer._call_has_context_arg = {**layer._call_has_context_arg, "training": True}


def _dense_core(layer, inputs, kernel):
    outputs = ops.matmul(inputs, kernel)
    return ops.add(outputs, layer.bias) if layer.bias is not None else outputs


def _einsum_dense_core(layer, inputs, kernel):
    outputs = ops.einsum(layer.equation, inputs, kernel)
    return ops.add(outputs, layer.bias) if layer.bias is not None else outputs


def _conv_core(layer, inputs, kernel):
    outputs = layer.convolution_op(inputs, kernel)
    if not layer.use_bias:
        return outputs
    if layer.data_format == "channels_last":
        shape = (1,) * (layer.rank + 1) + (layer.filters,)
    else:
        shape = (1, layer.filters) + (1,) * layer.rank
    return ops.add(outputs, ops.reshape(layer.bias, shape))


register_quantize_rule(keras.layers.Dense)(_kernel_layer_rule(_dense_core))
register_quantize_rule(keras.layers.EinsumDense)(_kernel_layer_rule(_einsum_dense_core))
register_quantize_rule(keras.layers.Conv1D, keras.layers.Conv2D)(_kernel_layer_rule(_conv_core))


@register_quantize_rule(MultiHeadSelfAttention)
def _attention_rule(layer, options):
    """The two attention matmuls: both operands and both results get ranges.

    The projections are Dense layers with their own rule; this adds the
    scaled query, the scores, the softmax output (fixed 0..1, as TFLite's
    int8 softmax emits) and the mixed values.
    """
    _attach(layer,
            query_quantizer=_activation_quantizer(layer, "query", options),
            scores_quantizer=_activation_quantizer(layer, "scores", options),
            weights_quantizer=FakeQuant("fixed", num_bits=options["num_bits"],
                                        fixed_range=(0.0, 1.0), name=f"{layer.name}_weights"),
            mixed_quantizer=_activation_quantizer(layer, "mixed", options))
