import keras
from keras import ops

from mexit_tf.errors import MexitError
from mexit_tf.layers.encoder_block import EncoderBlock
from mexit_tf.layers.exits.exit_head import ExitHead, register_exit_head
from mexit_tf.layers.first_token import first_token


@register_exit_head("sl_vit")
class SLViTExit(ExitHead):
    """SL-ViT: a single-layer ViT on the re-patched feature map (paper 2).

    LN -> patch grid -> re-patch with `patch_size` and project to `hidden_dim`
    (a strided convolution) -> new class token + position embedding -> one
    encoder block (width d, `num_heads` heads, MLP `mlp_dim`) -> LN -> class
    token -> Dense(C). It is narrower than `vit_ee` and sees fewer tokens, hence
    the lower overhead. The backbone's class token is not used.

    Called on `[tokens, audio_token]` (an audio-visual exit, paper 2), the audio
    token is projected to d and appended to the exit's own sequence, with a
    position embedding of its own, so the block attends to it.

    Args:
        patch_size: side of the re-patching window on the token grid.
        hidden_dim: d; None means D // 2.
        num_heads: heads of the exit's block.
        mlp_dim: MLP width; None means 2 * d.

    Example:
    >>> head = SLViTExit(num_outputs=10)
    >>> head(keras.ops.zeros((2, 50, 32))).shape
    (2, 10)
    """

    def __init__(self, num_outputs, patch_size=2, hidden_dim=None, num_heads=2, mlp_dim=None,
                 **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.patch_size = int(patch_size)
        self.hidden_dim = hidden_dim
        self.num_heads = int(num_heads)
        self.mlp_dim = mlp_dim

    accepts_audio_token = True

    def build(self, input_shape):
        input_shape, audio_shape = self.split_audio(input_shape)
        gh, gw = self.resolve_grid(input_shape)
        width = self.hidden_dim or max(self.num_heads, input_shape[-1] // 2)
        p = self.patch_size
        self.num_patches = -(-gh // p) * -(-gw // p)
        self.norm_in = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon,
                                                       name="ln_in")
        self.norm_in.build(input_shape)
        # "same" padding lets any grid be re-patched (a 7x7 grid gives 4x4 patches).
        self.repatch = keras.layers.Conv2D(width, p, strides=p, padding="same", name="repatch")
        self.repatch.build((input_shape[0], gh, gw, input_shape[-1]))
        self.class_token_embedding = self.add_weight(
            shape=(1, 1, width), initializer="random_normal", name="class_token")
        self.audio_in = None
        if audio_shape is not None:
            self.audio_in = keras.layers.Dense(width, name="audio_in")
            self.audio_in.build(audio_shape)
        length = self.num_patches + 1 + (audio_shape is not None)
        self.position_embedding = self.add_weight(
            shape=(1, length, width),
            initializer=keras.initializers.RandomNormal(stddev=0.02), name="position_embedding")
        sequence = (input_shape[0], length, width)
        self.block = EncoderBlock(width, self.num_heads, self.mlp_dim or 2 * width,
                                  layer_norm_epsilon=self.layer_norm_epsilon, name="block")
        self.block.build(sequence)
        self.norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln")
        self.norm.build(sequence)
        self.classifier = keras.layers.Dense(self.num_outputs, name="classifier")
        self.classifier.build((input_shape[0], width))

    def call(self, inputs):
        tokens, audio_token = self.split_audio(inputs)
        patches = self.split_tokens(self.norm_in(tokens))[1]
        features = self.repatch(self.patch_grid(patches))
        width = features.shape[-1]
        sequence = ops.reshape(features, (-1, self.num_patches, width))
        class_token = ops.broadcast_to(self.class_token_embedding,
                                       (ops.shape(sequence)[0], 1, width))
        parts = [class_token, sequence]
        if audio_token is not None:
            if self.audio_in is None:
                raise MexitError(f"Exit head {self.name!r} was built for visual tokens only; "
                                 "it received an audio token too.")
            parts.append(self.audio_in(audio_token))
        sequence = ops.concatenate(parts, axis=1) + self.position_embedding
        return self.classifier(first_token(self.norm(self.block(sequence))))

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size,
                "hidden_dim": self.hidden_dim, "num_heads": self.num_heads,
                "mlp_dim": self.mlp_dim}
