import keras


@keras.saving.register_keras_serializable(package="mexit_tf")
class PredictedMeanAbsoluteError(keras.metrics.MeanAbsoluteError):
    """MAE of the predicted mean (`y_pred[..., 0]`) of a mean + log-variance output."""

    def __init__(self, name="mae", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(keras.ops.reshape(y_true, (-1, 1)), y_pred[..., :1],
                                    sample_weight)
