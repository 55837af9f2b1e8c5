import keras
from keras import ops

from mexit_tf.gating.variance_policy import LOG_VARIANCE_LIMIT


@keras.saving.register_keras_serializable(package="mexit_tf")
class GaussianNLL(keras.losses.Loss):
    """Negative log-likelihood of a Gaussian with predicted mean and log-variance.

    `y_pred[..., 0]` is the mean, `y_pred[..., 1]` the log-variance (clipped
    to +-10 for stability); the constant 0.5 log(2 pi) is left out. An exit
    trained with it says how unsure it is, which `VariancePolicy` gates on.

    Example:
    >>> model = MultiExitModel(backbone, exits={2: "sl_vit"}, num_outputs=1,
    ...                        predict_variance=True)   # compiles with GaussianNLL
    """

    def __init__(self, name="gaussian_nll", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1,))
        mean = y_pred[..., 0]
        log_variance = ops.clip(y_pred[..., 1], -LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT)
        return 0.5 * (log_variance + ops.square(y_true - mean) * ops.exp(-log_variance))
