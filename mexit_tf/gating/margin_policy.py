import numpy as np

from mexit_tf.gating.exit_policy import register_policy
from mexit_tf.gating.threshold_policy import ThresholdPolicy


@register_policy("margin")
class MarginPolicy(ThresholdPolicy):
    """Stop at exit k when top-1 minus top-2 softmax probability is >= t_k."""

    @staticmethod
    def score(probabilities):
        top_two = np.sort(probabilities, axis=-1)[..., -2:]
        return top_two[..., 1] - top_two[..., 0]
