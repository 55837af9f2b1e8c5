import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mexit_tf")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Self-attention written with plain Dense layers and rank-4 tensors.

    Why not `keras.layers.MultiHeadAttention`: its `EinsumDense` kernels and
    rank-5 intermediate shapes are awkward for the TFLite converter, the
    Android GPU delegate and our fake-quant rules. Here every projection is a
    `Dense` and the two matmuls (scores, values) are explicit, so quantization
    can wrap each of them.

    Args:
        hidden_dim: token width D (input and output).
        num_heads: number of heads; must divide `hidden_dim`.
        dropout_rate: dropout on the attention weights.

    Example:
    >>> attention = MultiHeadSelfAttention(hidden_dim=32, num_heads=4)
    >>> attention(keras.ops.zeros((2, 10, 32))).shape
    (2, 10, 32)
    """

    def __init__(self, hidden_dim, num_heads, dropout_rate=0.0, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim must be divisible by num_heads; received hidden_dim={hidden_dim}, "
                f"num_heads={num_heads}.")
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.hidden_dim // self.num_heads
        self.dropout_rate = float(dropout_rate)
        self.use_bias = bool(use_bias)
        dense = dict(use_bias=self.use_bias, dtype=self.dtype_policy)
        self.query = keras.layers.Dense(self.hidden_dim, name="query", **dense)
        self.key = keras.layers.Dense(self.hidden_dim, name="key", **dense)
        self.value = keras.layers.Dense(self.hidden_dim, name="value", **dense)
        self.output_dense = keras.layers.Dense(self.hidden_dim, name="output", **dense)
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        # Quantization hooks: identity unless QAT attaches fake-quant layers
        # (see mexit_tf/quantization/quantize_rules.py).
        self.query_quantizer = None
        self.scores_quantizer = None
        self.weights_quantizer = None
        self.mixed_quantizer = None

    def build(self, input_shape):
        for dense in (self.query, self.key, self.value):
            dense.build(input_shape)
        self.output_dense.build(tuple(input_shape[:-1]) + (self.hidden_dim,))

    def _split_heads(self, x, num_tokens):
        x = ops.reshape(x, (-1, num_tokens, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _quantize(self, point, x, training):
        quantizer = getattr(self, f"{point}_quantizer")
        return x if quantizer is None else quantizer(x, training=training)

    def call(self, tokens, training=None):
        num_tokens = tokens.shape[1]
        # Scaling the query, not the scores, saves one multiply over T x T values.
        query = self._quantize("query", self.query(tokens) * (self.head_dim**-0.5), training)
        query = self._split_heads(query, num_tokens)
        key = self._split_heads(self.key(tokens), num_tokens)
        value = self._split_heads(self.value(tokens), num_tokens)
        scores = self._quantize("scores", ops.matmul(query, ops.transpose(key, (0, 1, 3, 2))),
                                training)
        weights = self._quantize("weights", ops.softmax(scores, axis=-1), training)
        weights = self.dropout(weights, training=training)
        mixed = self._quantize("mixed", ops.matmul(weights, value), training)
        mixed = ops.reshape(ops.transpose(mixed, (0, 2, 1, 3)), (-1, num_tokens, self.hidden_dim))
        return self.output_dense(mixed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, num_heads=self.num_heads,
                      dropout_rate=self.dropout_rate, use_bias=self.use_bias)
        return config
