import keras
import numpy as np

from mexit_tf.data.array_batches import ArrayBatches, example_count
from mexit_tf.errors import MexitError
from mexit_tf.models.multi_exit_model import FINAL_EXIT
from mexit_tf.training.gaussian_nll import GaussianNLL
from mexit_tf.training.predicted_mean_absolute_error import PredictedMeanAbsoluteError
from mexit_tf.training.regimes import apply_regime
from mexit_tf.training.soft_target_crossentropy import SoftTargetCrossentropy


def copycat_targets(model, x, soft: bool = False, temperature: float = 1.0,
                    batch_size: int = 256) -> np.ndarray:
    """The final exit's predictions on `x`: class indices, or softened probabilities;
    for regression, the predicted values (the means, for exits that predict a variance)."""
    logits = model.predict(ArrayBatches(x, batch_size=batch_size, shuffle=False),
                           verbose=0)[FINAL_EXIT]
    if model.is_regression:
        return logits[:, 0].astype("float32")
    if not soft:
        return logits.argmax(-1).astype("int32")
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits / temperature, axis=-1))


def fit_copycat(model, x, epochs: int = 1, soft: bool = False, temperature: float = 1.0,
                optimizer="adamw", batch_size: int = 128, augmentation=None, validation=None,
                **fit_kwargs):
    """Copycat fine-tuning (paper 2): early exits learn to copy the final exit.

    The backbone and final head are frozen; each early exit is trained on the
    final exit's predictions for `x` (hard labels by default, or soft targets
    at `temperature`). `x` needs no labels, so unlabelled images work.
    `validation=(x_val, y_val)` reports per-exit accuracy on true labels.
    `jit_compile` and `run_eagerly` go to `compile`; other keyword arguments to `fit`.

    Example:
    >>> fit_copycat(model, unlabelled_images, epochs=2)
    """
    if model.is_regression and soft:
        raise MexitError("Soft copycat targets need a classification model (num_outputs > 1).")
    if example_count(x) == 0:
        raise MexitError("Copycat fine-tuning received 0 inputs.")
    early = model.exit_names[:-1]
    if not early:
        raise MexitError("This model has no early exits to fine-tune.")
    targets = copycat_targets(model, x, soft, temperature)
    if model.predict_variance:
        loss = GaussianNLL()
    elif model.is_regression:
        loss = "mse"
    elif soft:
        loss = SoftTargetCrossentropy(temperature)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    apply_regime(model, "copycat")
    # Accuracy here means agreement with the teacher's answer.
    metric = "mae" if model.is_regression else ("categorical_accuracy" if soft else "accuracy")
    metrics = {name: [PredictedMeanAbsoluteError() if model.predict_variance else metric]
               for name in early}
    model.compile(optimizer=optimizer, loss={name: loss for name in early},
                  loss_weights={name: 1.0 for name in early}, metrics=metrics,
                  jit_compile=fit_kwargs.pop("jit_compile", "auto"),
                  run_eagerly=fit_kwargs.pop("run_eagerly", False))
    batches = ArrayBatches(x, {name: targets for name in early}, batch_size,
                           augmentation=augmentation)
    validation_data = None
    if validation is not None:
        x_val, y_val = validation
        validation_data = (x_val, {name: y_val for name in early})
    return model.fit(batches, epochs=epochs, validation_data=validation_data, **fit_kwargs)
