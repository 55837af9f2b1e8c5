import keras

from mexit_tf.errors import MexitError
from mexit_tf.layers.first_token import first_token


@keras.saving.register_keras_serializable(package="mexit_tf")
class AudioToken(keras.layers.Layer):
    """An audio encoder's summary as one token of the visual width: `(B, T, Da) -> (B, 1, D)`.

    Pools the audio backbone's final tokens (its class token, or their mean
    with `pooling="gap"`) and projects them to `hidden_dim`, the width of the
    visual tokens, so audio-visual exits can append it to their sequence.

    Example:
    >>> AudioToken(32)(keras.ops.zeros((2, 17, 16))).shape
    (2, 1, 32)
    """

    def __init__(self, hidden_dim, pooling="token", **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("token", "gap"):
            raise MexitError(f"pooling must be 'token' or 'gap'; received {pooling!r}.")
        self.hidden_dim = int(hidden_dim)
        self.pooling = pooling
        self.projection = keras.layers.Dense(self.hidden_dim, name="projection")

    def build(self, input_shape):
        self.projection.build((input_shape[0], input_shape[-1]))

    def call(self, tokens):
        pooled = first_token(tokens) if self.pooling == "token" else keras.ops.mean(tokens, axis=1)
        return self.projection(pooled)[:, None, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, self.hidden_dim)

    def get_config(self):
        return {**super().get_config(), "hidden_dim": self.hidden_dim, "pooling": self.pooling}
