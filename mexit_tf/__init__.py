"""mexit_tf: multi-exit Vision Transformers, from `model.fit` to a phone.

Keras (and with it TensorFlow, ~4-9 s) loads on first use of a modelling name
(`mexit_tf.MultiExitModel`, ...), not on `import mexit_tf`: the `mexit` command's
help and the bundle runtime stay fast and need no TensorFlow. Our Keras classes
are registered for `keras.models.load_model` as soon as Keras is imported,
whichever of the two a program imports first.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys

from mexit_tf.errors import MexitError

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first access).
_LAZY = {
    "EXIT_HEADS": "mexit_tf.layers", "AudioToken": "mexit_tf.layers",
    "ClassifierHead": "mexit_tf.layers", "EncoderBlock": "mexit_tf.layers",
    "ExitHead": "mexit_tf.layers", "LogMelSpectrogram": "mexit_tf.layers",
    "MultiHeadSelfAttention": "mexit_tf.layers", "PatchEmbedding": "mexit_tf.layers",
    "get_exit_head": "mexit_tf.layers",
    "AudioVisualModel": "mexit_tf.models", "CNNBackbone": "mexit_tf.models",
    "MultiExitModel": "mexit_tf.models", "ViTBackbone": "mexit_tf.models",
    "from_keras_hub": "mexit_tf.models",
    "quantize_aware": "mexit_tf.quantization",
}
# Modules whose import registers every Keras class we serialize.
_KERAS_MODULES = ("mexit_tf.layers", "mexit_tf.models", "mexit_tf.quantization")

__all__ = ["MexitError", *sorted(_LAZY)]


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


def _import_keras_modules():
    for module in _KERAS_MODULES:
        importlib.import_module(module)


def _register_keras_classes():
    _import_keras_quietly()
    _import_keras_modules()


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'mexit_tf' has no attribute {name!r}")
    _register_keras_classes()
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


class _RegisterWhenKerasLoads(importlib.abc.MetaPathFinder):
    """Registers our Keras classes right after a later `import keras` finishes, so
    `import mexit_tf; keras.models.load_model("m.keras")` keeps working."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            _import_keras_modules()

        spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    _register_keras_classes()
elif not any(isinstance(finder, _RegisterWhenKerasLoads) for finder in sys.meta_path):
    sys.meta_path.insert(0, _RegisterWhenKerasLoads())
