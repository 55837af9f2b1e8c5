import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mexit_tf")
class PatchEmbedding(keras.layers.Layer):
    """Cuts an image into patches, embeds them, adds a class token and positions.

    Output tokens are `(batch, 1 + gh * gw, hidden_dim)` with the class token
    first and the patch grid in row-major order (`(batch, gh * gw, hidden_dim)`
    without a class token). The weight layout matches keras-hub's
    `ViTPatchingAndEmbedding`, so pretrained weights copy over as they are.

    Args:
        image_shape: `(height, width, channels)` of the input.
        patch_size: int or `(ph, pw)`.
        hidden_dim: width of the token embeddings.
        use_class_token: prepend a learned class token.

    Example:
    >>> layer = PatchEmbedding((28, 28, 1), patch_size=4, hidden_dim=32)
    >>> layer(keras.ops.zeros((2, 28, 28, 1))).shape
    (2, 50, 32)
    """

    def __init__(self, image_shape, patch_size, hidden_dim, use_class_token=True, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.patch_size = tuple(patch_size) if not isinstance(patch_size, int) else (
            patch_size, patch_size)
        self.hidden_dim = int(hidden_dim)
        self.use_class_token = bool(use_class_token)
        self.grid_shape = (self.image_shape[0] // self.patch_size[0],
                           self.image_shape[1] // self.patch_size[1])
        self.num_tokens = self.grid_shape[0] * self.grid_shape[1] + int(self.use_class_token)
        self.projection = keras.layers.Conv2D(
            self.hidden_dim, self.patch_size, strides=self.patch_size, padding="valid",
            dtype=self.dtype_policy, name="patch_embedding")

    def build(self, input_shape):
        self.projection.build(input_shape)
        if self.use_class_token:
            self.class_token = self.add_weight(
                shape=(1, 1, self.hidden_dim), initializer="random_normal", name="class_token")
        self.position_embedding = self.add_weight(
            shape=(1, self.num_tokens, self.hidden_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
            name="position_embedding")

    def call(self, images):
        patches = self.projection(images)
        tokens = ops.reshape(patches, (-1, self.num_tokens - int(self.use_class_token),
                                       self.hidden_dim))
        if self.use_class_token:
            class_token = ops.broadcast_to(
                ops.cast(self.class_token, tokens.dtype),
                (ops.shape(tokens)[0], 1, self.hidden_dim))
            tokens = ops.concatenate([class_token, tokens], axis=1)
        return tokens + ops.cast(self.position_embedding, tokens.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_tokens, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(image_shape=list(self.image_shape), patch_size=list(self.patch_size),
                      hidden_dim=self.hidden_dim, use_class_token=self.use_class_token)
        return config
