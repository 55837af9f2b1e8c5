import keras
from keras import ops

from mexit_tf.layers.exits.exit_head import ExitHead, register_exit_head


@register_exit_head("resmlp_ee")
class ResMlpExit(ExitHead):
    """ResMLP-EE: one ResMLP block over the patch tokens, mean over patches, Dense(C).

    The block (Touvron et al., 2021) uses per-channel affine maps instead of
    LayerNorm: `x + s1 * (W_patches Aff1(x)^T)^T`, then
    `x + s2 * MLP(Aff2(x))`, with layer-scale vectors s1, s2. The class token is
    dropped and the input is LayerNorm-ed first, since exits read the raw
    residual stream.

    Args:
        mlp_ratio: hidden width of the per-token MLP as a multiple of D.
        layer_scale_init: initial value of the layer-scale vectors.

    Example:
    >>> head = ResMlpExit(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    def __init__(self, num_outputs, mlp_ratio=4, layer_scale_init=0.1, **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.mlp_ratio = int(mlp_ratio)
        self.layer_scale_init = float(layer_scale_init)

    def _affine(self, name, width):
        scale = self.add_weight(shape=(width,), initializer="ones", name=f"{name}_scale")
        shift = self.add_weight(shape=(width,), initializer="zeros", name=f"{name}_shift")
        return scale, shift

    def build(self, input_shape):
        num_patches = input_shape[1] - self.num_prefix_tokens
        width = input_shape[-1]
        self.norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln")
        self.norm.build(input_shape)
        self.affine_1 = self._affine("affine_1", width)
        self.affine_2 = self._affine("affine_2", width)
        self.affine_out = self._affine("affine_out", width)
        scale_init = keras.initializers.Constant(self.layer_scale_init)
        self.layer_scale_1 = self.add_weight(shape=(width,), initializer=scale_init,
                                             name="layer_scale_1")
        self.layer_scale_2 = self.add_weight(shape=(width,), initializer=scale_init,
                                             name="layer_scale_2")
        self.cross_patch = keras.layers.Dense(num_patches, name="cross_patch")
        self.cross_patch.build((input_shape[0], width, num_patches))
        self.mlp_dense_1 = keras.layers.Dense(self.mlp_ratio * width, activation="gelu",
                                              name="mlp_dense_1")
        self.mlp_dense_1.build((input_shape[0], num_patches, width))
        self.mlp_dense_2 = keras.layers.Dense(width, name="mlp_dense_2")
        self.mlp_dense_2.build((input_shape[0], num_patches, self.mlp_ratio * width))
        self.classifier = keras.layers.Dense(self.num_outputs, name="classifier")
        self.classifier.build((input_shape[0], width))

    @staticmethod
    def _apply(affine, x):
        scale, shift = affine
        return x * scale + shift

    def call(self, tokens):
        patches = self.split_tokens(self.norm(tokens))[1]
        mixed = ops.transpose(self._apply(self.affine_1, patches), (0, 2, 1))
        patches = patches + self.layer_scale_1 * ops.transpose(self.cross_patch(mixed), (0, 2, 1))
        hidden = self.mlp_dense_2(self.mlp_dense_1(self._apply(self.affine_2, patches)))
        patches = patches + self.layer_scale_2 * hidden
        pooled = ops.mean(self._apply(self.affine_out, patches), axis=1)
        return self.classifier(pooled)

    def get_config(self):
        return {**super().get_config(), "mlp_ratio": self.mlp_ratio,
                "layer_scale_init": self.layer_scale_init}
