import keras

from mexit_tf.layers.multi_head_self_attention import MultiHeadSelfAttention


@keras.saving.register_keras_serializable(package="mexit_tf")
class EncoderBlock(keras.layers.Layer):
    """Pre-LayerNorm transformer encoder block (ViT style).

    `x + Attention(LN(x))`, then `x + MLP(LN(x))` with a GELU MLP. Used by the
    backbone and by the `vit_ee` and `sl_vit` exit heads.

    Args:
        hidden_dim: token width.
        num_heads: attention heads.
        mlp_dim: width of the MLP's hidden layer.
        dropout_rate: dropout after attention and in the MLP.
        attention_dropout: dropout on attention weights.
        layer_norm_epsilon: LayerNorm epsilon (1e-6 as in ViT and keras-hub).

    Example:
    >>> block = EncoderBlock(hidden_dim=32, num_heads=4, mlp_dim=64)
    >>> block(keras.ops.zeros((2, 10, 32))).shape
    (2, 10, 32)
    """

    def __init__(self, hidden_dim, num_heads, mlp_dim, dropout_rate=0.0, attention_dropout=0.0,
                 layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.num_heads = int(num_heads)
        self.mlp_dim = int(mlp_dim)
        self.dropout_rate = float(dropout_rate)
        self.attention_dropout = float(attention_dropout)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        policy = self.dtype_policy
        self.norm_1 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_1")
        self.attention = MultiHeadSelfAttention(
            self.hidden_dim, self.num_heads, self.attention_dropout, dtype=policy, name="attention")
        self.norm_2 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="ln_2")
        self.mlp_dense_1 = keras.layers.Dense(
            self.mlp_dim, activation="gelu", dtype=policy, name="mlp_dense_1")
        self.mlp_dense_2 = keras.layers.Dense(self.hidden_dim, dtype=policy, name="mlp_dense_2")
        self.dropout = keras.layers.Dropout(self.dropout_rate)

    def build(self, input_shape):
        self.norm_1.build(input_shape)
        self.attention.build(input_shape)
        self.norm_2.build(input_shape)
        self.mlp_dense_1.build(input_shape)
        self.mlp_dense_2.build(tuple(input_shape[:-1]) + (self.mlp_dim,))

    def call(self, tokens, training=None):
        attended = self.attention(self.norm_1(tokens), training=training)
        tokens = tokens + self.dropout(attended, training=training)
        hidden = self.dropout(self.mlp_dense_1(self.norm_2(tokens)), training=training)
        return tokens + self.dropout(self.mlp_dense_2(hidden), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, num_heads=self.num_heads, mlp_dim=self.mlp_dim,
                      dropout_rate=self.dropout_rate, attention_dropout=self.attention_dropout,
                      layer_norm_epsilon=self.layer_norm_epsilon)
        return config
