from mexit_tf.layers.exits._conv_exit_head import ConvExitHead
from mexit_tf.layers.exits.exit_head import register_exit_head


@register_exit_head("cnn_add")
class CnnAddExit(ConvExitHead):
    """CNN-Add: the class token is added to every patch token, then as CNN-Ignore.

    Example:
    >>> head = CnnAddExit(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    requires_class_token = True

    def feature_map(self, tokens):
        class_token, patches = self.split_tokens(tokens)
        return self.patch_grid(patches + class_token)
