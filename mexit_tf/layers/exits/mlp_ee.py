import keras

from mexit_tf.layers.exits.exit_head import ExitHead, register_exit_head
from mexit_tf.layers.first_token import first_token


@register_exit_head("mlp_ee")
class MlpExit(ExitHead):
    """MLP-EE: LayerNorm -> Dense(D, GELU) -> Dense(C) on the class token.

    The cheapest head; it sees only token 0, so it relies on attention having
    already pooled the image into the class token.

    Args:
        hidden_units: width of the hidden layer; None means the token width D.

    Example:
    >>> head = MlpExit(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    requires_class_token = True

    def __init__(self, num_outputs, hidden_units=None, **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.hidden_units = hidden_units
        self.norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln")

    def build(self, input_shape):
        width = self.hidden_units or input_shape[-1]
        self.hidden = keras.layers.Dense(width, activation="gelu", name="hidden")
        self.classifier = keras.layers.Dense(self.num_outputs, name="classifier")
        self.norm.build((input_shape[0], input_shape[-1]))
        self.hidden.build((input_shape[0], input_shape[-1]))
        self.classifier.build((input_shape[0], width))

    def call(self, tokens):
        return self.classifier(self.hidden(self.norm(first_token(tokens))))

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units}
