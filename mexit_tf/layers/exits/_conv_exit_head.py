import keras

from mexit_tf.layers.exits.exit_head import ExitHead


class ConvExitHead(ExitHead):
    """Shared body of the three CNN heads of paper 1.

    LN -> feature map (subclass decides how the class token enters) ->
    Conv 3x3 -> GELU -> MaxPool 2 -> Flatten -> Dense(C).
    """

    def __init__(self, num_outputs, filters=32, kernel_size=3, pool_size=2, **kwargs):
        super().__init__(num_outputs, **kwargs)
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.pool_size = int(pool_size)
        self.norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name="ln")
        self.conv = keras.layers.Conv2D(self.filters, self.kernel_size, padding="same",
                                        activation="gelu", name="conv")
        # "same" pooling keeps odd grids (7x7 for 28px images, patch 4) from losing a row.
        self.pool = keras.layers.MaxPooling2D(self.pool_size, padding="same", name="pool")
        self.flatten = keras.layers.Flatten(name="flatten")
        self.classifier = keras.layers.Dense(self.num_outputs, name="classifier")

    def feature_map(self, tokens):
        """Returns the `(B, gh, gw, channels)` map the convolution reads."""
        raise NotImplementedError

    def feature_channels(self, width):
        return width

    def build(self, input_shape):
        gh, gw = self.resolve_grid(input_shape)
        self.build_extra(input_shape)
        self.norm.build(input_shape)
        self.conv.build((input_shape[0], gh, gw, self.feature_channels(input_shape[-1])))
        pooled = -(-gh // self.pool_size) * -(-gw // self.pool_size)
        self.classifier.build((input_shape[0], pooled * self.filters))

    def build_extra(self, input_shape):
        """Builds what a subclass adds (e.g. a projection)."""

    def call(self, tokens):
        features = self.conv(self.feature_map(self.norm(tokens)))
        return self.classifier(self.flatten(self.pool(features)))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "pool_size": self.pool_size}
