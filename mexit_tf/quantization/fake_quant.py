import keras
from keras import ops

MODES = ("activation", "weight", "fixed")


@keras.saving.register_keras_serializable(package="mexit_tf")
class FakeQuant(keras.layers.Layer):
    """Simulated int8 quantization of one tensor, as the TFLite converter reads it.

    The *how* of QAT (TFMOT's quantizers): rounds its input to `num_bits` on a
    `[min, max]` range and back, with straight-through gradients. On the
    TensorFlow backend this is `tf.quantization.fake_quant_with_min_max_vars`,
    the op the converter turns into int8 scales and zero points.

    Args:
        mode: `"activation"`: asymmetric range kept as a moving average of the
            batch min/max seen in training (the first batch sets it);
            `"weight"`: symmetric narrow range from the tensor's current
            absolute max (TFLite int8 weights have zero point 0);
            `"fixed"`: the constant range `fixed_range` (softmax output: 0..1).
        num_bits: 8 for int8.
        ema_decay: moving-average decay of activation ranges.
        fixed_range: `(min, max)` for `mode="fixed"`.

    Example:
    >>> quantizer = FakeQuant("fixed", fixed_range=(0.0, 1.0))
    >>> float(quantizer(keras.ops.convert_to_tensor([0.5004]))[0]) == 128 / 255
    True
    """

    def __init__(self, mode="activation", num_bits=8, ema_decay=0.999, fixed_range=None,
                 **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"FakeQuant mode must be one of {MODES}; received {mode!r}.")
        if mode == "fixed" and (fixed_range is None or not fixed_range[0] < fixed_range[1]):
            raise ValueError(f"FakeQuant(mode='fixed') needs fixed_range=(min, max) with "
                             f"min < max; received {fixed_range!r}.")
        self.mode = mode
        self.num_bits = int(num_bits)
        self.ema_decay = float(ema_decay)
        self.fixed_range = None if fixed_range is None else tuple(float(v) for v in fixed_range)
        if mode == "activation":
            # Variables, not weights of a built layer: a quantizer is attached to
            # layers that are already built, so it creates its state right away.
            self.range_min = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                             name="range_min")
            self.range_max = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                             name="range_max")
            self.range_seen = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                              name="range_seen")
        self.built = True

    def call(self, x, training=None):
        narrow_range = False
        if self.mode == "weight":
            bound = ops.maximum(ops.max(ops.abs(x)), 1e-8)
            low, high, narrow_range = -bound, bound, True
        elif self.mode == "fixed":
            low, high = self.fixed_range
        else:
            if training:
                self._update_range(x)
            # Zero must be representable exactly (TFLite pads and adds with it).
            low = ops.minimum(self.range_min, 0.0)
            high = ops.maximum(ops.maximum(self.range_max, 0.0), low + 1e-6)
        return keras.quantizers.fake_quant_with_min_max_vars(
            x, low, high, num_bits=self.num_bits, narrow_range=narrow_range)

    def _update_range(self, x):
        batch_min = ops.stop_gradient(ops.min(x))
        batch_max = ops.stop_gradient(ops.max(x))
        seen = self.range_seen > 0
        decay = self.ema_decay
        self.range_min.assign(ops.where(seen, decay * self.range_min + (1 - decay) * batch_min,
                                        batch_min))
        self.range_max.assign(ops.where(seen, decay * self.range_max + (1 - decay) * batch_max,
                                        batch_max))
        self.range_seen.assign(1.0)

    @property
    def has_range(self) -> bool:
        """False for an activation quantizer that has not yet seen a training batch."""
        return self.mode != "activation" or bool(ops.convert_to_numpy(self.range_seen) > 0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "num_bits": self.num_bits,
                "ema_decay": self.ema_decay, "fixed_range": self.fixed_range}
