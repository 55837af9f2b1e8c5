"""Gating policies and their calibration: pure NumPy, JSON in and out."""

from mexit_tf.gating.agreement_policy import AgreementPolicy
from mexit_tf.gating.budget_policy import BudgetPolicy
from mexit_tf.gating.calibration import calibrate_policy, policy_outcome
from mexit_tf.gating.confidence_policy import ConfidencePolicy
from mexit_tf.gating.entropy_policy import EntropyPolicy
from mexit_tf.gating.exit_policy import POLICY_TYPES, ExitPolicy, softmax
from mexit_tf.gating.margin_policy import MarginPolicy
from mexit_tf.gating.patience_policy import PatiencePolicy
from mexit_tf.gating.variance_policy import VariancePolicy

__all__ = ["POLICY_TYPES", "AgreementPolicy", "BudgetPolicy", "ConfidencePolicy",
           "EntropyPolicy", "ExitPolicy", "MarginPolicy", "PatiencePolicy", "VariancePolicy",
           "calibrate_policy", "policy_outcome", "softmax"]
