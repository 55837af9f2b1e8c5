import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mexit_tf")
class SoftTargetCrossentropy(keras.losses.Loss):
    """Cross-entropy against soft targets with temperature (knowledge distillation).

    `y_true` holds the teacher's probabilities at temperature T; the student's
    logits are divided by T too, and the loss is scaled by T**2 so its gradient
    keeps the size it has at T=1 (Hinton et al., 2015).
    """

    def __init__(self, temperature: float = 1.0, name="soft_target_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; received {temperature!r}.")
        self.temperature = float(temperature)

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(y_pred / self.temperature, axis=-1)
        return -ops.sum(y_true * log_probs, axis=-1) * self.temperature**2

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}
