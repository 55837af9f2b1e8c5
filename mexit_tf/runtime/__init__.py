"""Bundle -> answers: the LiteRT cascade runtime.

Imports NumPy, ai-edge-litert and the gating policies only (no Keras, no
TensorFlow), so a bundle runs on a device with `pip install "mexit_tf[runtime]"`.
"""

from mexit_tf.runtime.batched_cascade import BatchedCascade
from mexit_tf.runtime.cascade import Cascade
from mexit_tf.runtime.cascade_report import summarize
from mexit_tf.runtime.cascade_result import CascadeResult
from mexit_tf.runtime.delegation import FragmentationWarning, xnnpack_delegation
from mexit_tf.runtime.litert_stage import LiteRTStage
from mexit_tf.runtime.manifest import FORMAT_VERSION, read_manifest, validate_manifest

__all__ = ["FORMAT_VERSION", "BatchedCascade", "Cascade", "CascadeResult",
           "FragmentationWarning", "LiteRTStage", "read_manifest", "summarize",
           "validate_manifest", "xnnpack_delegation"]
