import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mexit_tf")
class PatchEmbedding(keras.layers.Layer):
    """Cuts an image into patches, embeds them, adds a class token and positions.

    Output tokens are `(batch, 1 + gh * gw, hidden_dim)` with the class token
    first and the patch grid in row-major order (`(batch, gh * gw, hidden_dim)`
    without a class token). The weight layout matches keras-hub's
    `ViTPatchingAndEmbedding`, so pretrained weights copy over as they are.

    DeiT and DINOv2 put more special tokens between the class token and the
    grid: DeiT's distillation token (which has a position, as in keras-hub's
    `DeiTEmbeddings`) and DINOv2's register tokens (no position: they are
    inserted after positions are added, as in `DINOV2Embedding`). Token order:
    `[class, distillation, registers..., patches...]`; `num_prefix_tokens`
    counts everything before the grid.

    Args:
        image_shape: `(height, width, channels)` of the input.
        patch_size: int or `(ph, pw)`.
        hidden_dim: width of the token embeddings.
        use_class_token: prepend a learned class token.
        distillation_token: add DeiT's distillation token after the class token.
        num_register_tokens: DINOv2's register tokens (0: none).

    Example:
    >>> layer = PatchEmbedding((28, 28, 1), patch_size=4, hidden_dim=32)
    >>> layer(keras.ops.zeros((2, 28, 28, 1))).shape
    (2, 50, 32)
    """

    def __init__(self, image_shape, patch_size, hidden_dim, use_class_token=True,
                 distillation_token=False, num_register_tokens=0, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.patch_size = tuple(patch_size) if not isinstance(patch_size, int) else (
            patch_size, patch_size)
        self.hidden_dim = int(hidden_dim)
        self.use_class_token = bool(use_class_token)
        self.distillation_token = bool(distillation_token)
        self.num_register_tokens = int(num_register_tokens)
        if (self.distillation_token or self.num_register_tokens) and not self.use_class_token:
            raise ValueError("Distillation and register tokens follow a class token; received "
                             f"use_class_token={use_class_token}.")
        self.grid_shape = (self.image_shape[0] // self.patch_size[0],
                           self.image_shape[1] // self.patch_size[1])
        self.num_patches = self.grid_shape[0] * self.grid_shape[1]
        # Tokens that carry a position embedding: class, distillation, patches.
        self.num_positions = self.num_patches + int(self.use_class_token) + int(
            self.distillation_token)
        self.num_prefix_tokens = (int(self.use_class_token) + int(self.distillation_token)
                                  + self.num_register_tokens)
        self.num_tokens = self.num_patches + self.num_prefix_tokens
        self.projection = keras.layers.Conv2D(
            self.hidden_dim, self.patch_size, strides=self.patch_size, padding="valid",
            dtype=self.dtype_policy, name="patch_embedding")

    def build(self, input_shape):
        self.projection.build(input_shape)
        if self.use_class_token:
            self.class_token = self.add_weight(
                shape=(1, 1, self.hidden_dim), initializer="random_normal", name="class_token")
        if self.distillation_token:
            self.distillation = self.add_weight(
                shape=(1, 1, self.hidden_dim), initializer="random_normal",
                name="distillation_token")
        if self.num_register_tokens:
            self.registers = self.add_weight(
                shape=(1, self.num_register_tokens, self.hidden_dim),
                initializer="random_normal", name="register_tokens")
        self.position_embedding = self.add_weight(
            shape=(1, self.num_positions, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding")

    def _tiled(self, weight, like):
        return ops.broadcast_to(ops.cast(weight, like.dtype),
                                (ops.shape(like)[0], *weight.shape[1:]))

    def call(self, images):
        patches = self.projection(images)
        tokens = ops.reshape(patches, (-1, self.num_patches, self.hidden_dim))
        special = [self.class_token] if self.use_class_token else []
        if self.distillation_token:
            special.append(self.distillation)
        if special:
            tokens = ops.concatenate([self._tiled(w, tokens) for w in special] + [tokens], axis=1)
        tokens = tokens + ops.cast(self.position_embedding, tokens.dtype)
        if self.num_register_tokens:
            tokens = ops.concatenate(
                [tokens[:, :1, :], self._tiled(self.registers, tokens), tokens[:, 1:, :]], axis=1)
        return tokens

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), patch_size=list(self.patch_size),
                      hidden_dim=self.hidden_dim, use_class_token=self.use_class_token,
                      distillation_token=self.distillation_token,
                      num_register_tokens=self.num_register_tokens)
        return config
