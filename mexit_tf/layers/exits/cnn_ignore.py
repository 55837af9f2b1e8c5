from mexit_tf.layers.exits._conv_exit_head import ConvExitHead
from mexit_tf.layers.exits.exit_head import register_exit_head


@register_exit_head("cnn_ignore")
class CnnIgnoreExit(ConvExitHead):
    """CNN-Ignore: the patch grid as a feature map, the class token dropped.

    LN -> g x g x D map -> Conv 3x3 (32) -> GELU -> MaxPool 2 -> Flatten -> Dense(C).

    Example:
    >>> head = CnnIgnoreExit(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    def feature_map(self, tokens):
        return self.patch_grid(self.split_tokens(tokens)[1])
