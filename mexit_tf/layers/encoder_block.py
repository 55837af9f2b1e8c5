import keras
from keras import ops

from mexit_tf.layers.multi_head_self_attention import MultiHeadSelfAttention


@keras.saving.register_keras_serializable(package="mexit_tf")
class EncoderBlock(keras.layers.Layer):
    """Pre-LayerNorm transformer encoder block (ViT style).

    `x + Attention(LN(x))`, then `x + MLP(LN(x))` with a GELU MLP. Used by the
    backbone and by the `vit_ee` and `sl_vit` exit heads.

    DINOv2 blocks add two options: layer scale (each branch multiplied by a
    learned per-channel vector before the residual add, keras-hub's
    `DINOV2LayerScale`) and a SwiGLU MLP (`silu(x W1) * (x W2)`, then W3; the
    two input projections are one Dense of width `2 * mlp_dim`, split in half,
    as in keras-hub's `DINOV2SwiGLUFFN`).

    Args:
        hidden_dim: token width.
        num_heads: attention heads.
        mlp_dim: width of the MLP's hidden layer.
        dropout_rate: dropout after attention and in the MLP.
        attention_dropout: dropout on attention weights.
        layer_norm_epsilon: LayerNorm epsilon (1e-6 as in ViT and keras-hub).
        layer_scale: initial value of the layer-scale vectors; None: no layer scale.
        mlp_kind: `"gelu"` (ViT, DeiT) or `"swiglu"` (DINOv2 giant).

    Example:
    >>> block = EncoderBlock(hidden_dim=32, num_heads=4, mlp_dim=64)
    >>> block(keras.ops.zeros((2, 10, 32))).shape
    (2, 10, 32)
    """

    def __init__(self, hidden_dim, num_heads, mlp_dim, dropout_rate=0.0, attention_dropout=0.0,
                 layer_norm_epsilon=1e-6, layer_scale=None, mlp_kind="gelu", **kwargs):
        super().__init__(**kwargs)
        if mlp_kind not in ("gelu", "swiglu"):
            raise ValueError(f"mlp_kind must be 'gelu' or 'swiglu'; received {mlp_kind!r}.")
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.mlp_dim = int(mlp_dim)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout = float(attention_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.layer_scale = None if layer_scale is None else float(layer_scale)
        self.mlp_kind = mlp_kind
        policy = self.dtype_policy
        self.norm_1 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_1")
        self.attention = MultiHeadSelfAttention(
            self.hidden_dim, self.num_heads, self.attention_dropout, dtype=policy, name="attention")
        self.norm_2 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_2")
        swiglu = self.mlp_kind == "swiglu"
        self.mlp_dense_1 = keras.layers.Dense(
            2 * self.mlp_dim if swiglu else self.mlp_dim, activation=None if swiglu else "gelu",
            dtype=policy, name="mlp_dense_1")
        self.mlp_dense_2 = keras.layers.Dense(self.hidden_dim, dtype=policy, name="mlp_dense_2")
        self.dropout = keras.layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        self.norm_1.build(input_shape)
        self.attention.build(input_shape)
        self.norm_2.build(input_shape)
        self.mlp_dense_1.build(input_shape)
        self.mlp_dense_2.build(tuple(input_shape[:-1]) + (self.mlp_dim,))
        if self.layer_scale is not None:
            scale = dict(shape=(self.hidden_dim,),
                         initializer=keras.initializers.Constant(self.layer_scale))
            self.layer_scale_1 = self.add_weight(name="layer_scale_1", **scale)
            self.layer_scale_2 = self.add_weight(name="layer_scale_2", **scale)

    def _scaled(self, branch, index):
        if self.layer_scale is None:
            return branch
        return branch * ops.cast(getattr(self, f"layer_scale_{index}"), branch.dtype)

    def call(self, tokens, training=None):
        attended = self._scaled(self.attention(self.norm_1(tokens), training=training), 1)
        tokens = tokens + self.dropout(attended, training=training)
        hidden = self.mlp_dense_1(self.norm_2(tokens))
        if self.mlp_kind == "swiglu":
            gate, value = ops.split(hidden, 2, axis=-1)
            hidden = ops.silu(gate) * value
        hidden = self.dropout(hidden, training=training)
        mixed = self._scaled(self.mlp_dense_2(hidden), 2)
        return tokens + self.dropout(mixed, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, num_heads=self.num_heads, mlp_dim=self.mlp_dim,
                      dropout_rate=self.dropout_rate, attention_dropout=self.attention_dropout,
                      layer_norm_epsilon=self.layer_norm_epsilon)
        # Written only when used, so configs of plain ViT blocks stay as they were.
        if self.layer_scale is not None:
            config["layer_scale"] = self.layer_scale
        if self.mlp_kind != "gelu":
            config["mlp_kind"] = self.mlp_kind
        return config
