import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mexit_tf")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy from logits on integer labels, with label smoothing.

    Keras' sparse cross-entropy has no `label_smoothing`; this is the one-hot
    version's smoothing (target = (1 - e) * one_hot + e / C) without making
    the data one-hot, so the same integer labels feed every exit.
    """

    def __init__(self, label_smoothing: float = 0.1, name="smoothed_sparse_crossentropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1); received {label_smoothing!r}.")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        target = ops.one_hot(labels, classes) * (1.0 - self.label_smoothing)
        target = target + self.label_smoothing / ops.cast(classes, y_pred.dtype)
        return -ops.sum(target * ops.log_softmax(y_pred, axis=-1), axis=-1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
