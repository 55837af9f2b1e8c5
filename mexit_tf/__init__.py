"""mexit_tf: multi-exit Vision Transformers, from `model.fit` to a phone."""

import os
import sys


def _import_keras_quietly():
    """Imports Keras (and TensorFlow) with native stderr muted.

    TensorFlow's C++ start-up lines (CUDA stubs on CPU machines, CPU features)
    are printed by absl before any log level applies and bury our own output.
    Python errors still surface: they are raised after stderr is restored.
    Set MEXIT_SHOW_TF_LOGS=1 to see those lines.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("MEXIT_SHOW_TF_LOGS") or "keras" in sys.modules:
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        import keras  # noqa: F401
        if keras.backend.backend() == "tensorflow":
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


_import_keras_quietly()

from mexit_tf.errors import MexitError
from mexit_tf.layers import (
    EXIT_HEADS,
    ClassifierHead,
    EncoderBlock,
    ExitHead,
    MultiHeadSelfAttention,
    PatchEmbedding,
    get_exit_head,
)
from mexit_tf.models import MultiExitModel, ViTBackbone, from_keras_hub

__version__ = "0.1.0"

__all__ = [
    "EXIT_HEADS", "ClassifierHead", "EncoderBlock", "ExitHead", "MexitError", "MultiExitModel",
    "MultiHeadSelfAttention", "PatchEmbedding", "ViTBackbone", "from_keras_hub", "get_exit_head",
]
