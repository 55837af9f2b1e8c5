import numpy as np

from mexit_tf.gating.exit_policy import ExitPolicy, check_thresholds, softmax


class ThresholdPolicy(ExitPolicy):
    """Base of the score-threshold policies: exit k answers when its score passes t_k.

    Subclasses define `score(probabilities)`, the range of valid thresholds,
    and whether higher scores mean more confident (`higher_is_confident`).
    """

    score_range = (0.0, 1.0)
    higher_is_confident = True
    first_exit = 0  # the first exit with a threshold

    def __init__(self, thresholds):
        thresholds = list(thresholds) if isinstance(thresholds, np.ndarray) else thresholds
        count = len(thresholds) if isinstance(thresholds, list | tuple) else 0
        self.thresholds = check_thresholds(thresholds, count, *self.score_range,
                                           f"{self.policy_type} thresholds")
        self.num_exits = len(self.thresholds) + 1

    @staticmethod
    def score(probabilities: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def accepts(self, outputs, index):
        scores = self.score(softmax(np.asarray(outputs[index], dtype=np.float64)))
        threshold = self.thresholds[index]
        return scores >= threshold if self.higher_is_confident else scores <= threshold

    def to_dict(self):
        return {"type": self.policy_type, "thresholds": list(self.thresholds)}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("thresholds"))
