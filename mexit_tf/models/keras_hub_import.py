"""Turn a keras-hub ViT, DeiT or DINOv2 into a multi-exit model that reuses its weights."""

import sys

import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.layers.classifier_head import ClassifierHead
from mexit_tf.models.multi_exit_model import FINAL_EXIT, MultiExitModel
from mexit_tf.models.position_embedding_resize import resize_position_embedding
from mexit_tf.models.vit_backbone import ViTBackbone

# keras-hub backbone class -> family; a subclass of one counts as that family.
FAMILIES = {"ViTBackbone": "vit", "DeiTBackbone": "deit", "DINOV2Backbone": "dinov2"}


def hub_family(model) -> str | None:
    """"vit", "deit" or "dinov2" for a keras-hub backbone of that family, else None."""
    for cls in type(model).__mro__:
        if cls.__module__.startswith("keras_hub") and cls.__name__ in FAMILIES:
            return FAMILIES[cls.__name__]
    return None


def hub_parts(model):
    """`(hub_backbone, hub_classifier_or_None, family)` for a backbone or classifier."""
    backbone = getattr(model, "backbone", None)
    if backbone is not None and hub_family(backbone):
        return backbone, model, hub_family(backbone)
    if hub_family(model):
        return model, None, hub_family(model)
    raise MexitError(
        "from_keras_hub expects a keras-hub ViT, DeiT or DINOv2 backbone or image classifier "
        f"(ViTBackbone, DeiTBackbone, DINOV2Backbone); received {type(model).__name__}.")


def _dense_weights(layer, bias_shape):
    """Kernel and bias of a keras-hub Dense/EinsumDense, flattened to Dense layout."""
    weights = layer.get_weights()
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(bias_shape, kernel.dtype)
    return kernel, bias.reshape(bias_shape)


# === Where each family keeps its weights ===
# Every family reduces to the same parts: an embedding (projection, special
# tokens, positions) and per block two LayerNorms, a Keras MultiHeadAttention,
# two MLP Denses and optional layer-scale vectors.

def _vit_parts(hub):
    embedding = hub.get_layer("vit_patching_and_embedding")
    encoder = hub.get_layer("vit_encoder")
    blocks = [dict(norm_1=b.layer_norm_1, norm_2=b.layer_norm_2, mha=b.mha, mlp_1=b.mlp.dense_1,
                   mlp_2=b.mlp.dense_2) for b in encoder.encoder_layers]
    tokens = dict(projection=embedding.patch_embedding,
                  positions=embedding.position_embedding.get_weights()[0][None],
                  class_token=embedding.class_token.numpy() if hub.use_class_token else None)
    config = dict(mlp_dim=hub.mlp_dim, dropout_rate=hub.dropout_rate,
                  attention_dropout=hub.attention_dropout,
                  layer_norm_epsilon=hub.layer_norm_epsilon, use_class_token=hub.use_class_token)
    return config, tokens, blocks, encoder.layer_norm


def _deit_parts(hub):
    embedding = hub.get_layer("deit_patching_and_embedding")
    encoder = hub.get_layer("deit_encoder")
    blocks = [dict(norm_1=b.layer_norm_1, norm_2=b.layer_norm_2, mha=b.mha, mlp_1=b.mlp.dense,
                   mlp_2=b.output_layer.dense) for b in encoder.encoder_layers]
    tokens = dict(projection=embedding.patch_embedding,
                  positions=embedding.position_embedding.numpy(),
                  class_token=embedding.class_token.numpy(),
                  distillation=embedding.distillation_token.numpy())
    config = dict(mlp_dim=hub.intermediate_dim, dropout_rate=hub.dropout_rate,
                  attention_dropout=hub.attention_dropout,
                  layer_norm_epsilon=hub.layer_norm_epsilon, distillation_token=True)
    return config, tokens, blocks, encoder.layer_norm


def _dinov2_parts(hub):
    embedding = hub.embeddings
    swiglu = hub.use_swiglu_ffn
    blocks = [dict(norm_1=b.norm1, norm_2=b.norm2, mha=b.attention.attention,
                   mlp_1=b.mlp.weights_in if swiglu else b.mlp.fc1,
                   mlp_2=b.mlp.weights_out if swiglu else b.mlp.fc2,
                   scale_1=b.layer_scale1.lambda1.numpy(), scale_2=b.layer_scale2.lambda1.numpy())
              for b in hub.encoder.layers]
    # The positions keras-hub interpolated to this backbone's image size are the ones it uses.
    tokens = dict(projection=embedding.patch_embeddings.projection,
                  positions=embedding.interpolated_position_embeddings.numpy(),
                  class_token=embedding.cls_token.numpy(),
                  registers=(embedding.register_tokens.numpy()
                             if hub.num_register_tokens else None))
    mlp_dim = (blocks[0]["mlp_1"].units // 2 if swiglu else hub.intermediate_dim)
    config = dict(mlp_dim=mlp_dim, dropout_rate=hub.dropout_rate,
                  attention_dropout=hub.dropout_rate, layer_norm_epsilon=1e-6,
                  num_register_tokens=hub.num_register_tokens,
                  layer_scale=hub.layer_scale_init_value,
                  mlp_kind="swiglu" if swiglu else "gelu")
    return config, tokens, blocks, hub.layernorm


_PARTS = {"vit": _vit_parts, "deit": _deit_parts, "dinov2": _dinov2_parts}


def _copy_block(parts, block, width):
    block.norm_1.set_weights(parts["norm_1"].get_weights())
    block.norm_2.set_weights(parts["norm_2"].get_weights())
    mha, attention = parts["mha"], block.attention
    for hub_dense, dense in ((mha._query_dense, attention.query), (mha._key_dense, attention.key),
                             (mha._value_dense, attention.value),
                             (mha._output_dense, attention.output_dense)):
        kernel, bias = _dense_weights(hub_dense, (width,))
        dense.set_weights([kernel.reshape(width, width), bias])
    for hub_dense, dense in ((parts["mlp_1"], block.mlp_dense_1),
                             (parts["mlp_2"], block.mlp_dense_2)):
        dense.set_weights(list(_dense_weights(hub_dense, (dense.units,))))
    if block.layer_scale is not None:
        block.layer_scale_1.assign(parts["scale_1"])
        block.layer_scale_2.assign(parts["scale_2"])


def _pixel_arguments(converter, pixel_scale, pixel_offset) -> dict:
    """The image converter's `x * scale + offset` as our backbone's arguments.

    keras-hub folds ImageNet mean/std into per-channel scale and offset; we
    keep a scalar `/255` and give the rest as `pixel_mean`/`pixel_std`, so a
    bundle's manifest still states a scalar pixel scale.
    """
    scale = None if converter is None else getattr(converter, "scale", None)
    offset = None if converter is None else getattr(converter, "offset", None)
    scale = np.asarray(1.0 if scale is None else scale, "float64").reshape(-1)
    offset = np.asarray(0.0 if offset is None else offset, "float64").reshape(-1)
    if pixel_scale is not None or pixel_offset is not None or (
            scale.size == 1 and offset.size == 1):
        return dict(pixel_scale=float(scale[0]) if pixel_scale is None else pixel_scale,
                    pixel_offset=float(offset[0]) if pixel_offset is None else pixel_offset)
    scale, offset = np.broadcast_arrays(scale, offset)
    std = 1.0 / (255.0 * scale)
    return dict(pixel_scale=1 / 255.0, pixel_offset=0.0, pixel_mean=(-offset * std).tolist(),
                pixel_std=std.tolist())


def from_keras_hub(model, exits, num_outputs=None, pixel_scale=None, pixel_offset=None,
                   image_shape=None, image_converter=None, **kwargs) -> MultiExitModel:
    """Builds a `MultiExitModel` on the weights of a keras-hub ViT, DeiT or DINOv2.

    `model` is a keras-hub backbone (`ViTBackbone`, `DeiTBackbone`,
    `DINOV2Backbone`: the final head starts from random weights, pass
    `num_outputs`) or an image classifier on one (`ViTImageClassifier`,
    `DeiTImageClassifier`: its head is copied too, so the final exit equals
    the keras-hub classifier). DeiT's distillation token and DINOv2's register
    tokens, layer scale and SwiGLU MLP are carried over; exits read the class
    token (or the patch grid) and skip the other special tokens. Exits get
    fresh heads; train them with the `classifier_wise` regime or copycat.

    Pixels: the image converter's scale/offset (and mean/std) go into the
    model, so it takes raw pixels as keras-hub's preprocessor does. The
    converter is the classifier's, or `image_converter`; with neither, none
    is applied (feed what you would feed the keras-hub backbone).

    `image_shape` (H, W) other than the pretraining size resizes the position
    embeddings over the patch grid (bicubic; special tokens kept), and says so
    on stderr.

    Example:
    >>> hub = keras_hub.models.DeiTImageClassifier.from_preset(
    ...     "deit_tiny_distilled_patch16_224_imagenet")
    >>> model = mexit_tf.from_keras_hub(hub, exits={4: "sl_vit", 8: "sl_vit"})
    """
    hub_backbone, hub_classifier, family = hub_parts(model)
    if num_outputs is None:
        if hub_classifier is None:
            raise MexitError("num_outputs is required when importing a bare backbone.")
        num_outputs = hub_classifier.output_dense.units
    copy_head = hub_classifier is not None and num_outputs == hub_classifier.output_dense.units
    if image_converter is None:
        image_converter = getattr(getattr(hub_classifier, "preprocessor", None),
                                  "image_converter", None)
    if getattr(hub_backbone, "data_format", "channels_last") != "channels_last":
        raise MexitError("Only channels_last keras-hub models can be imported.")

    config, tokens, hub_blocks, hub_final_norm = _PARTS[family](hub_backbone)
    width = hub_backbone.hidden_dim
    patch = hub_backbone.patch_size
    patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
    source_shape = tuple(int(s) for s in hub_backbone.image_shape)
    target_shape = source_shape if image_shape is None else (
        *tuple(int(s) for s in image_shape[:2]), source_shape[2])
    if target_shape[0] % patch[0] or target_shape[1] % patch[1]:
        raise MexitError(
            f"The {family} backbone's patch size {patch[0]}x{patch[1]} does not divide the "
            f"image size {target_shape[0]}x{target_shape[1]}; choose an image size that is a "
            f"multiple of {patch[0]}.")
    backbone = ViTBackbone(
        image_shape=target_shape, patch_size=patch, hidden_dim=width,
        num_layers=hub_backbone.num_layers, num_heads=hub_backbone.num_heads,
        **config, **_pixel_arguments(image_converter, pixel_scale, pixel_offset))

    # === Weights ===
    embedding = backbone.patch_embedding
    embedding.projection.set_weights(list(_dense_weights(tokens["projection"], (width,))))
    if tokens.get("class_token") is not None:
        embedding.class_token.assign(tokens["class_token"])
    if tokens.get("distillation") is not None:
        embedding.distillation.assign(tokens["distillation"])
    if tokens.get("registers") is not None:
        embedding.registers.assign(tokens["registers"])
    source_grid = (source_shape[0] // patch[0], source_shape[1] // patch[1])
    if source_grid != embedding.grid_shape:
        special = embedding.num_positions - embedding.num_patches
        print(f"mexit: position embeddings resized from a {source_grid[0]}x{source_grid[1]} "
              f"to a {embedding.grid_shape[0]}x{embedding.grid_shape[1]} patch grid "
              f"(bicubic; {special} special token position(s) kept) for "
              f"{target_shape[0]}x{target_shape[1]} images; the {family} backbone was "
              f"pretrained at {source_shape[0]}x{source_shape[1]}.", file=sys.stderr)
    embedding.position_embedding.assign(resize_position_embedding(
        tokens["positions"], source_grid, embedding.grid_shape,
        embedding.num_positions - embedding.num_patches))
    for parts, block in zip(hub_blocks, backbone.encoder_blocks, strict=True):
        _copy_block(parts, block, width)
    backbone.final_norm.set_weights(hub_final_norm.get_weights())

    final_head = None
    if copy_head:
        intermediate = getattr(hub_classifier, "intermediate_dim", None)
        final_head = ClassifierHead(num_outputs, pooling=hub_classifier.pooling,
                                    intermediate_dim=intermediate, name=FINAL_EXIT)
    multi_exit = MultiExitModel(backbone, exits, num_outputs, final_head=final_head, **kwargs)
    if copy_head:
        if intermediate:
            final_head.pre_logits.set_weights(hub_classifier.intermediate_layer.get_weights())
        final_head.classifier.set_weights(hub_classifier.output_dense.get_weights())
    return multi_exit
