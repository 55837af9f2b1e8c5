from mexit_tf.layers.audio_token import AudioToken
from mexit_tf.layers.classifier_head import ClassifierHead
from mexit_tf.layers.encoder_block import EncoderBlock
from mexit_tf.layers.exits import EXIT_HEADS, ExitHead, get_exit_head
from mexit_tf.layers.log_mel_spectrogram import LogMelSpectrogram
from mexit_tf.layers.multi_head_self_attention import MultiHeadSelfAttention
from mexit_tf.layers.patch_embedding import PatchEmbedding

__all__ = ["EXIT_HEADS", "AudioToken", "ClassifierHead", "EncoderBlock", "ExitHead",
           "LogMelSpectrogram", "MultiHeadSelfAttention", "PatchEmbedding", "get_exit_head"]
