import numpy as np

from mexit_tf.data.array_batches import ArrayBatches


def predict_exits(model, x, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Every exit's outputs on `x`, as `{exit_name: (N, C) array}` in depth order."""
    outputs = model.predict(ArrayBatches(x, batch_size=batch_size, shuffle=False), verbose=0)
    return {name: np.asarray(outputs[name]) for name in model.exit_names}


def exit_scores(outputs: dict[str, np.ndarray], y: np.ndarray,
                regression: bool | None = None) -> dict[str, float]:
    """Top-1 accuracy per exit (classification) or mean absolute error (regression).

    `regression=None` takes single-column outputs as regression; pass True for
    exits that output a mean and a log-variance (the mean is scored).
    """
    y = np.asarray(y)
    scores = {}
    for name, values in outputs.items():
        if regression or (regression is None and values.shape[-1] == 1):
            scores[name] = float(np.mean(np.abs(values[:, 0] - y.reshape(-1))))
        else:
            scores[name] = float(np.mean(values.argmax(-1) == y.reshape(-1)))
    return scores
