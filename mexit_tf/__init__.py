"""mexit_tf: multi-exit Vision Transformers, from `model.fit` to a phone."""

import os
import sys


def _import_keras_quietly():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" in sys.modules:
        return
    from mexit_tf.native_stderr import quiet_native_stderr

    with quiet_native_stderr():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow

            # Device discovery prints a CUDA error on CPU-only machines; do it now.
            tensorflow.config.list_physical_devices("GPU")


_import_keras_quietly()

from mexit_tf.errors import MexitError
from mexit_tf.layers import (
    EXIT_HEADS,
    AudioToken,
    ClassifierHead,
    EncoderBlock,
    ExitHead,
    LogMelSpectrogram,
    MultiHeadSelfAttention,
    PatchEmbedding,
    get_exit_head,
)
from mexit_tf.models import (
    AudioVisualModel,
    CNNBackbone,
    MultiExitModel,
    ViTBackbone,
    from_keras_hub,
)
from mexit_tf.quantization import quantize_aware

__version__ = "0.1.0"

__all__ = [
    "EXIT_HEADS", "AudioToken", "AudioVisualModel", "CNNBackbone", "ClassifierHead",
    "EncoderBlock", "ExitHead",
    "LogMelSpectrogram", "MexitError", "MultiExitModel", "MultiHeadSelfAttention",
    "PatchEmbedding", "ViTBackbone", "from_keras_hub", "get_exit_head", "quantize_aware",
]
