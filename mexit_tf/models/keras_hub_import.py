"""Turn a keras-hub ViT into a multi-exit model that reuses its weights."""

import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.layers.classifier_head import ClassifierHead
from mexit_tf.models.multi_exit_model import FINAL_EXIT, MultiExitModel
from mexit_tf.models.vit_backbone import ViTBackbone


def _hub_parts(model):
    """Returns `(hub_backbone, hub_classifier_or_None)` for a backbone or classifier."""
    backbone = getattr(model, "backbone", None)
    if backbone is not None and type(backbone).__name__ == "ViTBackbone":
        return backbone, model
    if type(model).__name__ == "ViTBackbone" and hasattr(model, "use_class_token"):
        return model, None
    raise MexitError(
        "from_keras_hub expects a keras_hub.models.ViTBackbone or ViTImageClassifier; "
        f"received {type(model).__name__}.")


def _dense_weights(layer, bias_shape):
    """Kernel and bias of a keras-hub Dense/EinsumDense, flattened to Dense layout."""
    weights = layer.get_weights()
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(bias_shape, kernel.dtype)
    return kernel, bias.reshape(bias_shape)


def _copy_block(hub_block, block, width):
    block.norm_1.set_weights(hub_block.layer_norm_1.get_weights())
    block.norm_2.set_weights(hub_block.layer_norm_2.get_weights())
    mha = hub_block.mha
    attention = block.attention
    for hub_dense, dense in ((mha._query_dense, attention.query), (mha._key_dense, attention.key),
                             (mha._value_dense, attention.value)):
        kernel, bias = _dense_weights(hub_dense, (width,))
        dense.set_weights([kernel.reshape(width, width), bias])
    kernel, bias = _dense_weights(mha._output_dense, (width,))
    attention.output_dense.set_weights([kernel.reshape(width, width), bias])
    for hub_dense, dense in ((hub_block.mlp.dense_1, block.mlp_dense_1),
                             (hub_block.mlp.dense_2, block.mlp_dense_2)):
        dense.set_weights(list(_dense_weights(hub_dense, (dense.units,))))


def from_keras_hub(model, exits, num_outputs=None, pixel_scale=None, pixel_offset=None,
                   **kwargs) -> MultiExitModel:
    """Builds a `MultiExitModel` on the weights of a keras-hub ViT.

    `model` is a `keras_hub.models.ViTBackbone` (the final head starts from
    random weights) or a `keras_hub.models.ViTImageClassifier` (its head is
    copied too, so the final exit equals the keras-hub classifier). Exits get
    fresh heads; train them with the `classifier_wise` regime or copycat.

    Pixels: keras-hub backbones take preprocessed images. By default the
    classifier's image converter scale/offset are used when present, else
    none (1.0, 0.0), i.e. feed what you would feed keras-hub.

    Example:
    >>> hub = keras_hub.models.ViTImageClassifier.from_preset("vit_base_patch16_224_imagenet")
    >>> model = mexit_tf.from_keras_hub(hub, exits={4: "sl_vit", 8: "sl_vit"})
    """
    hub_backbone, hub_classifier = _hub_parts(model)
    if num_outputs is None:
        if hub_classifier is None:
            raise MexitError("num_outputs is required when importing a bare ViTBackbone.")
        num_outputs = hub_classifier.output_dense.units
    scale, offset = 1.0, 0.0
    converter = getattr(getattr(hub_classifier, "preprocessor", None), "image_converter", None)
    if converter is not None and getattr(converter, "scale", None) is not None:
        scale = float(np.asarray(converter.scale).reshape(-1)[0])
        offset = float(np.asarray(converter.offset if converter.offset is not None else 0.0)
                       .reshape(-1)[0])
    scale = scale if pixel_scale is None else pixel_scale
    offset = offset if pixel_offset is None else pixel_offset
    if hub_backbone.data_format != "channels_last":
        raise MexitError("Only channels_last keras-hub ViTs can be imported.")

    width = hub_backbone.hidden_dim
    backbone = ViTBackbone(
        image_shape=hub_backbone.image_shape, patch_size=hub_backbone.patch_size,
        hidden_dim=width, num_layers=hub_backbone.num_layers, num_heads=hub_backbone.num_heads,
        mlp_dim=hub_backbone.mlp_dim, dropout_rate=hub_backbone.dropout_rate,
        attention_dropout=hub_backbone.attention_dropout,
        layer_norm_epsilon=hub_backbone.layer_norm_epsilon,
        use_class_token=hub_backbone.use_class_token, pixel_scale=scale, pixel_offset=offset)

    embedding = hub_backbone.get_layer("vit_patching_and_embedding")
    kernel, bias = _dense_weights(embedding.patch_embedding, (width,))
    backbone.patch_embedding.projection.set_weights([kernel, bias])
    backbone.patch_embedding.position_embedding.assign(
        embedding.position_embedding.get_weights()[0][None])
    if hub_backbone.use_class_token:
        backbone.patch_embedding.class_token.assign(embedding.class_token.numpy())
    encoder = hub_backbone.get_layer("vit_encoder")
    for hub_block, block in zip(encoder.encoder_layers, backbone.encoder_blocks, strict=True):
        _copy_block(hub_block, block, width)
    backbone.final_norm.set_weights(encoder.layer_norm.get_weights())

    final_head = None
    if hub_classifier is not None:
        intermediate = getattr(hub_classifier, "intermediate_dim", None)
        final_head = ClassifierHead(num_outputs, pooling=hub_classifier.pooling,
                                    intermediate_dim=intermediate, name=FINAL_EXIT)
    multi_exit = MultiExitModel(backbone, exits, num_outputs, final_head=final_head, **kwargs)
    if hub_classifier is not None:
        if intermediate:
            final_head.pre_logits.set_weights(hub_classifier.intermediate_layer.get_weights())
        final_head.classifier.set_weights(hub_classifier.output_dense.get_weights())
    return multi_exit
