"""Model -> bundle: stages, TFLite conversion, parity check, manifest, calibration.

The bundle's runtime (`Cascade`) lives in `mexit_tf.runtime`.
"""

from mexit_tf.converters.bundle_export import (
    calibrate_bundle,
    export_bundle,
    load_multi_exit_model,
)
from mexit_tf.converters.stage_builder import build_stage_models
from mexit_tf.converters.tflite_conversion import QUANTIZE_MODES, convert_to_tflite

__all__ = ["QUANTIZE_MODES", "build_stage_models", "calibrate_bundle", "convert_to_tflite",
           "export_bundle", "load_multi_exit_model"]
