"""Model -> bundle (stages, TFLite, manifest, policy) and the LiteRT cascade runtime."""

from mexit_tf.converters.bundle_export import calibrate_bundle, export_bundle, load_multi_exit_model
from mexit_tf.converters.cascade import Cascade
from mexit_tf.converters.cascade_result import CascadeResult
from mexit_tf.converters.manifest import FORMAT_VERSION, read_manifest, validate_manifest
from mexit_tf.converters.stage_builder import build_stage_models
from mexit_tf.converters.tflite_conversion import QUANTIZE_MODES, convert_to_tflite

__all__ = ["FORMAT_VERSION", "QUANTIZE_MODES", "Cascade", "CascadeResult", "build_stage_models",
           "calibrate_bundle", "convert_to_tflite", "export_bundle", "load_multi_exit_model",
           "read_manifest", "validate_manifest"]
