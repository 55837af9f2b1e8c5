import keras
import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.layers.audio_token import AudioToken
from mexit_tf.layers.classifier_head import ClassifierHead
from mexit_tf.models.multi_exit_model import (
    FINAL_EXIT,
    MultiExitModel,
    _normalise_exits,
)
from mexit_tf.models.vit_backbone import ViTBackbone

INPUT_NAMES = ("image", "waveform")


def audio_visual_exit_name(block: int) -> str:
    return f"exit_{block}_av"


@keras.saving.register_keras_serializable(package="mexit_tf")
class AudioVisualModel(MultiExitModel):
    """A multi-exit ViT on an image and a sound; each exit sees the image alone or both.

    Inputs are a dict `{"image": raw pixels, "waveform": raw mono samples}`.
    The audio branch (`audio_backbone`, a ViT with an audio frontend, then
    `AudioToken`) sums the sound up as one token of the visual width. A
    visual exit (`exits`) reads the visual tokens after its block; an
    audio-visual exit (`audio_exits`, paper 2) reads them together with the
    audio token, which joins its token sequence (`sl_vit`). The final exit is
    audio-visual: its head concatenates the audio token to the class token.

    Exits are ordered by block, a visual exit before an audio-visual one
    after the same block; that order is the cascade's. At run time the audio
    branch runs once, in the stage of the first audio-visual exit, so an
    input that leaves at a visual exit before it never pays for the audio:
    dynamic inference chooses both the depth and whether to listen.

    Args:
        backbone: the visual `ViTBackbone`.
        audio_backbone: a `ViTBackbone` with an audio frontend
            (`LogMelSpectrogram`), built with `layer_prefix="audio_"` (one
            built without it is rebuilt so, weights copied).
        exits: visual exits `{block: head}`, as in `MultiExitModel`.
        audio_exits: audio-visual exits `{block: head}`; the head must take
            the audio token (`sl_vit`). Names are `"exit_{block}_av"`.
        num_outputs, predict_variance, final_loss_weight: as in
            `MultiExitModel`.
        final_head: the final exit's head, called on `[tokens, audio_token]`;
            defaults to `ClassifierHead`.
        audio_token: the `AudioToken` layer; a new one by default.

    Example:
    >>> model = AudioVisualModel(visual, audio, exits={1: "sl_vit"},
    ...                          audio_exits={1: "sl_vit", 2: "sl_vit"}, num_outputs=1)
    >>> model.exit_names
    ['exit_1', 'exit_1_av', 'exit_2_av', 'final']
    """

    def __init__(self, backbone, audio_backbone, exits, num_outputs, audio_exits=None,
                 final_head=None, final_loss_weight=2.0, predict_variance=False,
                 audio_token=None, **kwargs):
        _check_backbones(backbone, audio_backbone)
        audio_backbone = _named_apart(audio_backbone, backbone)
        visual = _normalise_exits(exits, backbone.num_layers)
        audible = _normalise_exits(audio_exits or {}, backbone.num_layers)
        if predict_variance and int(num_outputs) != 1:
            raise MexitError(f"predict_variance is for regression (num_outputs=1); received "
                             f"num_outputs={num_outputs!r}.")
        head_outputs = 2 if predict_variance else num_outputs
        # (block, uses audio, head spec), in cascade order.
        order = sorted([(block, False, head) for block, head in visual]
                       + [(block, True, head) for block, head in audible],
                       key=lambda entry: entry[:2])

        # === Layers ===
        self.backbone = backbone
        self.audio_backbone = audio_backbone
        self.audio_token = audio_token or AudioToken(backbone.hidden_dim, name="audio_token")
        self.exit_heads = [self._build_head(block, _named(block, head) if audio else head,
                                            backbone, head_outputs)
                           for block, audio, head in order]
        for (block, audio, _), head in zip(order, self.exit_heads, strict=True):
            if audio and not head.accepts_audio_token:
                raise MexitError(
                    f"Audio-visual exit after block {block}: head '{head.head_type}' cannot "
                    "take the audio token; use 'sl_vit' (or make it a visual exit).")
        if final_head is None:
            final_head = ClassifierHead(head_outputs, name=FINAL_EXIT)

        # === Functional model ===
        token = self.audio_token(audio_backbone.output)
        outputs = {}
        for (block, audio, _), head in zip(order, self.exit_heads, strict=True):
            tokens = backbone.block_outputs[block]
            outputs[head.name] = head([tokens, token] if audio else tokens)
        outputs[FINAL_EXIT] = final_head([backbone.output, token])
        # The functional init MultiExitModel's own __init__ would call (skipped: it
        # builds a one-input graph); Keras injects its Functional class there.
        super(MultiExitModel, self).__init__(
            inputs={"image": backbone.input, "waveform": audio_backbone.input},
            outputs=outputs, **kwargs)

        # === Config ===
        self.final_head = final_head
        self.exit_blocks = [block for block, _, _ in order]
        self.exit_names = [head.name for head in self.exit_heads] + [FINAL_EXIT]
        # Per exit, final included: does it read the audio token?
        self.exit_uses_audio = [audio for _, audio, _ in order] + [True]
        self.num_outputs = int(num_outputs)
        self.predict_variance = bool(predict_variance)
        self.final_loss_weight = float(final_loss_weight)
        self.quantization = None
        self.data_source = None  # as on MultiExitModel

    @property
    def encoders(self) -> list:
        """What the training regimes freeze with the backbone: both encoders."""
        return [self.backbone, self.audio_backbone, self.audio_token]

    def fit(self, x=None, y=None, *args, **kwargs):
        if _in_memory(x):  # datasets and generators are Keras' to check
            check_pairs(x)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        if _in_memory(x):
            check_pairs(x)
        return super().evaluate(x, y, *args, **kwargs)

    def get_config(self):
        exits = list(zip(self.exit_blocks, self.exit_uses_audio[:-1], self.exit_heads,
                         strict=True))
        visual = [(b, h) for b, a, h in exits if not a]
        audible = [(b, h) for b, a, h in exits if a]
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name, "trainable": self.trainable,
            "backbone": serialize(self.backbone),
            "audio_backbone": serialize(self.audio_backbone),
            "audio_token": serialize(self.audio_token),
            "exits": {str(block): serialize(head) for block, head in visual},
            "audio_exits": {str(block): serialize(head) for block, head in audible},
            "num_outputs": self.num_outputs,
            "final_head": serialize(self.final_head),
            "final_loss_weight": self.final_loss_weight,
            "predict_variance": self.predict_variance,
            "data_source": self.data_source,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("backbone", "audio_backbone", "audio_token", "final_head"):
            config[key] = deserialize(config[key])
        for key in ("exits", "audio_exits"):
            config[key] = {int(block): deserialize(head) for block, head in config[key].items()}
        data_source = config.pop("data_source", None)
        model = cls(**config)
        model.data_source = data_source
        return model


def _named(block, head):
    """An audio-visual head spec named `exit_{block}_av` (an ExitHead keeps its own name)."""
    if isinstance(head, str):
        head = {"type": head}
    if isinstance(head, dict):
        return {"name": audio_visual_exit_name(block), **head}
    return head


def _check_backbones(backbone, audio_backbone):
    if not isinstance(backbone, ViTBackbone) or backbone.input_kind != "image":
        raise MexitError(f"backbone must be an image ViTBackbone; received "
                         f"{type(backbone).__name__} taking "
                         f"{getattr(backbone, 'input_kind', 'images')}.")
    if not isinstance(audio_backbone, ViTBackbone) or audio_backbone.input_kind != "audio":
        raise MexitError(f"audio_backbone must be a ViTBackbone with an audio frontend "
                         f"(LogMelSpectrogram); received {type(audio_backbone).__name__} "
                         f"taking {getattr(audio_backbone, 'input_kind', 'images')}.")


def _named_apart(audio_backbone, backbone):
    """The audio backbone with layer names that differ from the visual one's.

    One functional model needs unique layer names; an audio backbone built
    without `layer_prefix` is rebuilt with `"audio_"` and its weights copied.
    """
    shared = {layer.name for layer in audio_backbone.layers} & {
        layer.name for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)}
    if not shared:
        return audio_backbone
    config = audio_backbone.get_config()
    renamed = ViTBackbone.from_config({**config, "layer_prefix": "audio_" + config["layer_prefix"],
                                       "name": f"audio_{audio_backbone.name}"})
    renamed.set_weights(audio_backbone.get_weights())
    return renamed


def _in_memory(x) -> bool:
    return x is None or isinstance(x, dict | list | tuple | np.ndarray)


def check_pairs(x) -> None:
    """Audio-visual inputs are `{"image": (N, ...), "waveform": (N, samples)}`, N equal."""
    if not isinstance(x, dict) or set(x) != set(INPUT_NAMES):
        what = sorted(x) if isinstance(x, dict) else type(x).__name__
        raise MexitError(f"An audio-visual model takes a dict with keys 'image' and "
                         f"'waveform'; received {what}.")
    sizes = {name: len(x[name]) for name in INPUT_NAMES}
    if len(set(sizes.values())) != 1:
        raise MexitError(f"Mismatched image/audio pairs: {sizes['image']} images but "
                         f"{sizes['waveform']} waveforms.")
    if sizes["image"] == 0:
        raise MexitError("The dataset is empty: received 0 image/audio pairs.")

