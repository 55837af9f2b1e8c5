import keras

from mexit_tf.errors import MexitError
from mexit_tf.layers.exits.exit_head import ExitHead
from mexit_tf.layers.first_token import first_token


@keras.saving.register_keras_serializable(package="mexit_tf")
class ClassifierHead(keras.layers.Layer):
    """The standard ViT head, used as the final exit.

    Reads the backbone's final (LayerNorm-ed) tokens: the class token
    (`pooling="token"`) or the mean of all tokens (`pooling="gap"`), an optional
    tanh pre-logits layer (`intermediate_dim`, as in keras-hub's
    `ViTImageClassifier`), then Dense(C).

    Called on `[tokens, audio_token]` (the final exit of an `AudioVisualModel`),
    the audio token is concatenated to the pooled visual token (late fusion).

    Example:
    >>> head = ClassifierHead(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    def __init__(self, num_outputs, pooling="token", intermediate_dim=None, **kwargs):
        super().__init__(**kwargs)
        if pooling not in ("token", "gap"):
            raise MexitError(f"pooling must be 'token' or 'gap'; received {pooling!r}.")
        self.num_outputs = int(num_outputs)
        self.pooling = pooling
        self.intermediate_dim = intermediate_dim
        self.pre_logits = (keras.layers.Dense(intermediate_dim, activation="tanh",
                                              name="pre_logits") if intermediate_dim else None)
        self.classifier = keras.layers.Dense(self.num_outputs, name="classifier")

    def build(self, input_shape):
        input_shape, audio_shape = ExitHead.split_audio(input_shape)
        width = input_shape[-1] + (0 if audio_shape is None else audio_shape[-1])
        pooled = (input_shape[0], width)
        if self.pre_logits is not None:
            self.pre_logits.build(pooled)
            pooled = (input_shape[0], self.intermediate_dim)
        self.classifier.build(pooled)

    def call(self, inputs):
        tokens, audio_token = ExitHead.split_audio(inputs)
        pooled = first_token(tokens) if self.pooling == "token" else keras.ops.mean(tokens, axis=1)
        if audio_token is not None:
            pooled = keras.ops.concatenate([pooled, first_token(audio_token)], axis=-1)
        if self.pre_logits is not None:
            pooled = self.pre_logits(pooled)
        return self.classifier(pooled)

    def compute_output_shape(self, input_shape):
        return (ExitHead.split_audio(input_shape)[0][0], self.num_outputs)

    def get_config(self):
        config = super().get_config()
        config.update(num_outputs=self.num_outputs, pooling=self.pooling,
                      intermediate_dim=self.intermediate_dim)
        return config
