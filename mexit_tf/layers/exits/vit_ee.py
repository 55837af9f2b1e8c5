import keras

from mexit_tf.layers.encoder_block import EncoderBlock
from mexit_tf.layers.exits.exit_head import ExitHead, register_exit_head
from mexit_tf.layers.first_token import first_token


@register_exit_head("vit_ee")
class ViTExit(ExitHead):
    """ViT-EE: one extra encoder block at backbone width, LN, class token, Dense(C).

    The most accurate of paper 1's heads and the most expensive: a full
    transformer block over all tokens.

    Args:
        num_heads: attention heads; None means the backbone's (or D // 64).
        mlp_dim: MLP width; None means 4 * D.

    Example:
    >>> head = ViTExit(num_outputs=10, num_heads=4, mlp_dim=64)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    requires_class_token = True

    def __init__(self, num_outputs, num_heads=None, mlp_dim=None, **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim

    def build(self, input_shape):
        width = input_shape[-1]
        self.block = EncoderBlock(
            width, self.num_heads or max(1, width // 64), self.mlp_dim or 4 * width,
            layer_norm_epsilon=self.layer_norm_epsilon, name="block")
        self.norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln")
        self.classifier = keras.layers.Dense(self.num_outputs, name="classifier")
        self.block.build(input_shape)
        self.norm.build(input_shape)
        self.classifier.build((input_shape[0], width))

    def call(self, tokens):
        return self.classifier(first_token(self.norm(self.block(tokens))))

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "mlp_dim": self.mlp_dim}
