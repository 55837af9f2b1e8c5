import keras
from keras import ops

from mexit_tf.layers.exits.exit_head import ExitHead, register_exit_head


@register_exit_head("mixer_ee")
class MixerExit(ExitHead):
    """MLP-Mixer-EE: one Mixer block over all tokens, LN, mean over tokens, Dense(C).

    Token mixing: `x + W2 GELU(W1 LN(x)^T)^T` across tokens; channel mixing:
    `x + MLP(LN(x))` across features (Tolstikhin et al., 2021).

    Args:
        token_mlp_dim: hidden width of the token-mixing MLP; None means D // 2.
        channel_mlp_dim: hidden width of the channel-mixing MLP; None means 4 * D.

    Example:
    >>> head = MixerExit(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    def __init__(self, num_outputs, token_mlp_dim=None, channel_mlp_dim=None, **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.token_mlp_dim = token_mlp_dim
        self.channel_mlp_dim = channel_mlp_dim

    def build(self, input_shape):
        num_tokens, width = input_shape[1], input_shape[-1]
        eps = self.layer_norm_epsilon
        self.norm_tokens = keras.layers.LayerNormalization(epsilon=eps, name="ln_tokens")
        self.token_dense_1 = keras.layers.Dense(
            self.token_mlp_dim or max(1, width // 2), activation="gelu", name="token_dense_1")
        self.token_dense_2 = keras.layers.Dense(num_tokens, name="token_dense_2")
        self.norm_channels = keras.layers.LayerNormalization(epsilon=eps, name="ln_channels")
        self.channel_dense_1 = keras.layers.Dense(
            self.channel_mlp_dim or 4 * width, activation="gelu", name="channel_dense_1")
        self.channel_dense_2 = keras.layers.Dense(width, name="channel_dense_2")
        self.norm = keras.layers.LayerNormalization(epsilon=eps, name="ln")
        self.classifier = keras.layers.Dense(self.num_outputs, name="classifier")
        transposed = (input_shape[0], width, num_tokens)
        for norm in (self.norm_tokens, self.norm_channels, self.norm):
            norm.build(input_shape)
        self.token_dense_1.build(transposed)
        self.token_dense_2.build(transposed[:-1] + (self.token_dense_1.units,))
        self.channel_dense_1.build(input_shape)
        self.channel_dense_2.build(tuple(input_shape[:-1]) + (self.channel_dense_1.units,))
        self.classifier.build((input_shape[0], width))

    def call(self, tokens):
        mixed = ops.transpose(self.norm_tokens(tokens), (0, 2, 1))
        mixed = self.token_dense_2(self.token_dense_1(mixed))
        tokens = tokens + ops.transpose(mixed, (0, 2, 1))
        tokens = tokens + self.channel_dense_2(self.channel_dense_1(self.norm_channels(tokens)))
        return self.classifier(ops.mean(self.norm(tokens), axis=1))

    def get_config(self):
        return {**super().get_config(), "token_mlp_dim": self.token_mlp_dim,
                "channel_mlp_dim": self.channel_mlp_dim}
