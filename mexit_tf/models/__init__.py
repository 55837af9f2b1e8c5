from mexit_tf.models.audio_visual_model import AudioVisualModel
from mexit_tf.models.cnn_backbone import CNNBackbone
from mexit_tf.models.keras_hub_import import from_keras_hub
from mexit_tf.models.multi_exit_model import MultiExitModel
from mexit_tf.models.vit_backbone import ViTBackbone

__all__ = ["AudioVisualModel", "CNNBackbone", "MultiExitModel", "ViTBackbone", "from_keras_hub"]
