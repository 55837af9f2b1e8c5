import math

import numpy as np

from mexit_tf.gating.exit_policy import register_policy
from mexit_tf.gating.threshold_policy import ThresholdPolicy


@register_policy("entropy")
class EntropyPolicy(ThresholdPolicy):
    """Stop at exit k when the entropy of its softmax (nats) is <= t_k.

    Thresholds lie in [0, ln C]; 0 accepts only one-hot answers.
    """

    score_range = (0.0, math.inf)
    higher_is_confident = False

    @staticmethod
    def score(probabilities):
        return -np.sum(probabilities * np.log(np.clip(probabilities, 1e-12, 1.0)), axis=-1)
