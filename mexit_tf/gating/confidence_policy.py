from mexit_tf.gating.exit_policy import register_policy
from mexit_tf.gating.threshold_policy import ThresholdPolicy


@register_policy("confidence")
class ConfidencePolicy(ThresholdPolicy):
    """Stop at exit k when the top softmax probability is >= t_k.

    JSON: `{"type": "confidence", "thresholds": [t_1, ..., t_{K-1}]}`.

    Example:
    >>> ConfidencePolicy([0.9, 0.8]).select_exits([logits_1, logits_2, logits_final])
    """

    @staticmethod
    def score(probabilities):
        return probabilities.max(-1)
