"""Model -> bundle (stages, TFLite, manifest, policy) and the LiteRT cascade runtime."""

from converters.bundle_export import calibrate_bundle, export_bundle, load_multi_exit_model
from converters.cascade import Cascade
from converters.cascade_result import CascadeResult
from converters.manifest import FORMAT_VERSION, read_manifest, validate_manifest
from converters.stage_builder import build_stage_models
from converters.tflite_conversion import QUANTIZE_MODES, convert_to_tflite

__all__ = ["FORMAT_VERSION", "QUANTIZE_MODES", "Cascade", "CascadeResult", "build_stage_models",
           "calibrate_bundle", "convert_to_tflite", "export_bundle", "load_multi_exit_model",
           "read_manifest", "validate_manifest"]
