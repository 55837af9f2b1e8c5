import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy, check_thresholds, register_policy


@register_policy("agreement")
class AgreementPolicy(ExitPolicy):
    """Regression: stop at exit k >= 1 once it agrees with exit k-1 to within t_k.

    Agreement needs two predictions, so the first exit never answers alone;
    thresholds are in target units, one per exit from the second to the
    second-to-last (K-2 values). Outputs `(N, 1)`, or `(N, 2)` mean +
    log-variance, of which the mean is used.
    JSON: `{"type": "agreement", "thresholds": [t_2, ..., t_{K-1}]}`.

    Example:
    >>> AgreementPolicy([0.5]).select_exits([counts_1, counts_2, counts_final])
    """

    tasks = ("regression",)
    score_range = (0.0, float("inf"))
    higher_is_confident = False
    first_exit = 1  # thresholds start at the second exit

    def __init__(self, thresholds):
        thresholds = list(thresholds) if isinstance(thresholds, np.ndarray) else thresholds
        if not isinstance(thresholds, list | tuple):
            raise MexitError(f"agreement thresholds must be a list of numbers; received "
                             f"{thresholds!r}.")
        self.thresholds = check_thresholds(thresholds, len(thresholds), *self.score_range,
                                           "agreement thresholds")
        self.num_exits = len(self.thresholds) + 2

    @staticmethod
    def scores(outputs, index) -> np.ndarray:
        """|prediction of exit `index` - prediction of exit `index - 1`|, per input."""
        current = np.asarray(outputs[index], np.float64)[:, 0]
        previous = np.asarray(outputs[index - 1], np.float64)[:, 0]
        return np.abs(current - previous)

    def accepts(self, outputs, index):
        if index == 0:
            return np.zeros(len(outputs[0]), bool)
        return self.scores(outputs, index) <= self.thresholds[index - 1]

    def to_dict(self):
        return {"type": "agreement", "thresholds": list(self.thresholds)}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("thresholds"))
