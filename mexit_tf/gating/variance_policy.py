import numpy as np

from mexit_tf.gating.exit_policy import ExitPolicy, check_thresholds, register_policy

# Log-variances are clipped to +-LOG_VARIANCE_LIMIT in training (GaussianNLL) and here alike.
LOG_VARIANCE_LIMIT = 10.0


@register_policy("std")
class VariancePolicy(ExitPolicy):
    """Regression with predicted variance: stop at exit k when its predicted standard
    deviation is <= t_k (target units).

    Needs exits that output `(mean, log-variance)` (`predict_variance=True`,
    trained with `GaussianNLL`). JSON: `{"type": "std", "thresholds": [t_1, ..., t_{K-1}]}`.

    Example:
    >>> VariancePolicy([0.4, 0.6]).select_exits([out_1, out_2, out_final])
    """

    tasks = ("regression",)
    score_range = (0.0, float("inf"))
    higher_is_confident = False
    first_exit = 0

    def __init__(self, thresholds):
        thresholds = list(thresholds) if isinstance(thresholds, np.ndarray) else thresholds
        count = len(thresholds) if isinstance(thresholds, list | tuple) else 0
        self.thresholds = check_thresholds(thresholds, count, *self.score_range, "std thresholds")
        self.num_exits = len(self.thresholds) + 1

    @staticmethod
    def scores(outputs, index) -> np.ndarray:
        """Predicted standard deviation of exit `index`, per input."""
        log_variance = np.clip(np.asarray(outputs[index], np.float64)[:, 1],
                               -LOG_VARIANCE_LIMIT, LOG_VARIANCE_LIMIT)
        return np.exp(0.5 * log_variance)

    def accepts(self, outputs, index):
        return self.scores(outputs, index) <= self.thresholds[index]

    def to_dict(self):
        return {"type": "std", "thresholds": list(self.thresholds)}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("thresholds"))
