from mexit_tf.training.copycat import copycat_targets, fit_copycat
from mexit_tf.training.evaluation import exit_scores, predict_exits
from mexit_tf.training.gaussian_nll import GaussianNLL
from mexit_tf.training.predicted_mean_absolute_error import PredictedMeanAbsoluteError
from mexit_tf.training.regimes import REGIMES, apply_regime, fit_layer_wise, layer_wise_phases
from mexit_tf.training.smoothed_sparse_crossentropy import SmoothedSparseCrossentropy
from mexit_tf.training.soft_target_crossentropy import SoftTargetCrossentropy
from mexit_tf.training.trainer import train_from_config

__all__ = ["REGIMES", "GaussianNLL", "PredictedMeanAbsoluteError", "SmoothedSparseCrossentropy",
           "SoftTargetCrossentropy", "apply_regime", "copycat_targets", "exit_scores",
           "fit_copycat", "fit_layer_wise", "layer_wise_phases", "predict_exits",
           "train_from_config"]
