"""Gating policies and their calibration: pure NumPy, JSON in and out."""

from mexit_tf.gating.budget_policy import BudgetPolicy
from mexit_tf.gating.calibration import calibrate_policy, policy_outcome
from mexit_tf.gating.confidence_policy import ConfidencePolicy
from mexit_tf.gating.entropy_policy import EntropyPolicy
from mexit_tf.gating.exit_policy import POLICY_TYPES, ExitPolicy, softmax
from mexit_tf.gating.margin_policy import MarginPolicy
from mexit_tf.gating.patience_policy import PatiencePolicy

__all__ = ["POLICY_TYPES", "BudgetPolicy", "ConfidencePolicy", "EntropyPolicy", "ExitPolicy",
           "MarginPolicy", "PatiencePolicy", "calibrate_policy", "policy_outcome", "softmax"]
