import keras
from keras import ops

from mexit_tf.layers.exits._conv_exit_head import ConvExitHead
from mexit_tf.layers.exits.exit_head import register_exit_head
from mexit_tf.layers.first_token import first_token


@register_exit_head("cnn_project")
class CnnProjectExit(ConvExitHead):
    """CNN-Project: the class token, projected to `projection_dim` channels, is
    tiled over the grid and concatenated to the patch features; then as CNN-Ignore.

    Example:
    >>> head = CnnProjectExit(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    requires_class_token = True

    def __init__(self, num_outputs, projection_dim=32, **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.projection_dim = int(projection_dim)
        self.projection = keras.layers.Dense(self.projection_dim, name="projection")

    def feature_channels(self, width):
        return width + self.projection_dim

    def build_extra(self, input_shape):
        self.projection.build((input_shape[0], input_shape[-1]))

    def feature_map(self, tokens):
        class_token, patches = self.split_tokens(tokens)
        grid = self.patch_grid(patches)
        gh, gw = self.grid_shape
        projected = ops.reshape(self.projection(first_token(class_token)),
                                (-1, 1, 1, self.projection_dim))
        # TILE (and BROADCAST_TO) stay outside XNNPACK: this head's stage runs as two
        # partitions (tests/test_quantization.py names it).
        tiled = ops.tile(projected, (1, gh, gw, 1))
        return ops.concatenate([grid, tiled], axis=-1)

    def get_config(self):
        return {**super().get_config(), "projection_dim": self.projection_dim}
