"""Split a MultiExitModel into per-exit stages that share its layers (and weights)."""

import keras

from mexit_tf.errors import MexitError
from mexit_tf.models.cnn_backbone import CNNBackbone
from mexit_tf.models.multi_exit_model import FINAL_EXIT, MultiExitModel


def build_stage_models(model: MultiExitModel) -> list[keras.Model]:
    """One Keras model per exit, batch 1, outputs `(logits, hidden)` (`(logits,)` last).

    Stage 0 takes raw pixels (or samples) and runs the stem (rescaling or
    frontend, patch embedding),
    the blocks up to exit 1 and exit 1's head. Stage k takes the hidden tokens
    of stage k-1 and runs the blocks up to exit k+1 and its head. Running the
    stages in turn does the work of the plain model once, never twice.
    """
    if not isinstance(model, MultiExitModel):
        raise MexitError(f"Expected a mexit_tf MultiExitModel; received {type(model).__name__}.")
    backbone = model.backbone
    if isinstance(backbone, CNNBackbone):
        return _cnn_stages(model)
    return _vit_stages(model)


def _stage(inputs, outputs, roles, index, name):
    stage = keras.Model(inputs, outputs, name=f"stage_{index}_{name}")
    stage.output_roles = roles[:len(outputs)]
    return stage


def _vit_stages(model) -> list[keras.Model]:
    """Stages of a ViT model, in its exit order.

    For an `AudioVisualModel`, the stage of the first audio-visual exit also
    takes the `waveform`, runs the audio backbone and hands on the audio
    token; later audio-visual stages take that token (`audio_token_in`). A
    stage whose exit sits after the same block as the previous one runs no
    block and hands on no tokens: the runtime keeps the previous stage's.
    """
    backbone = model.backbone
    bounds = [0, *model.exit_blocks, backbone.num_layers]
    heads = [*model.exit_heads, model.final_head]
    uses_audio = model.exit_uses_audio
    first_audio = uses_audio.index(True) if any(uses_audio) else None
    stages = []
    for index, name in enumerate(model.exit_names):
        if index == 0:
            inputs = [keras.Input(backbone.raw_input_shape, batch_size=1,
                                  name="image" if backbone.input_kind == "image" else "waveform")]
            hidden = backbone.patch_embedding(backbone.rescaling(inputs[0]))
        else:
            inputs = [keras.Input((backbone.patch_embedding.num_tokens, backbone.hidden_dim),
                                  batch_size=1, name="hidden_in")]
            hidden = inputs[0]
        blocks = backbone.encoder_blocks[bounds[index]:bounds[index + 1]]
        for block in blocks:
            hidden = block(hidden)
        token = None
        if index == first_audio:
            audio = model.audio_backbone
            inputs.append(keras.Input(audio.raw_input_shape, batch_size=1, name="waveform"))
            token = model.audio_token(audio(inputs[-1]))
        elif uses_audio[index]:
            inputs.append(keras.Input((1, backbone.hidden_dim), batch_size=1,
                                      name="audio_token_in"))
            token = inputs[-1]
        final = name == FINAL_EXIT
        features = backbone.final_norm(hidden) if final else hidden
        outputs = [heads[index]([features, token] if token is not None else features)]
        roles = ["logits"]
        if blocks and not final:
            outputs.append(hidden)
            roles.append("hidden")
        if index == first_audio and not final:
            outputs.append(token)
            roles.append("audio_token")
        stages.append(_stage(inputs[0] if len(inputs) == 1 else inputs, tuple(outputs), roles,
                             index, name))
    return stages


def _cnn_stages(model: MultiExitModel) -> list[keras.Model]:
    """Stages of a CNN cut at the exits' layers; a stage hands on its feature map.

    The CNN's own graph is reused from one cut to the next (`keras.Model` on
    its intermediate tensors), so the stages share its layers and weights.
    """
    backbone = model.backbone
    heads = [*model.exit_heads, model.final_head]
    # Cut numbers of the exits, then the final feature map (the last one).
    points = [*(block - 1 for block in model.exit_blocks), len(backbone.feature_maps) - 1]
    maps = backbone.feature_maps
    stages = []
    for index, (point, name) in enumerate(zip(points, model.exit_names, strict=True)):
        if index == 0:
            inputs = keras.Input(backbone.raw_input_shape, batch_size=1, name="image")
            segment = keras.Model(backbone.cnn.inputs[0], maps[point])
        else:
            start = maps[points[index - 1]]
            inputs = keras.Input(tuple(start.shape[1:]), batch_size=1, name="hidden_in")
            segment = keras.Model(start, maps[point])
        hidden = segment(inputs)
        logits = heads[index](backbone.to_tokens[point](hidden))
        outputs = (logits,) if name == FINAL_EXIT else (logits, hidden)
        stages.append(_stage(inputs, outputs, ["logits", "hidden"], index, name))
    return stages
