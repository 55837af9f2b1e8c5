import difflib

import keras

from mexit_tf.errors import MexitError


def _node_of(tensor):
    history = tensor._keras_history
    return history.operation._inbound_nodes[history.node_index]


def _nodes(tensors) -> list:
    """The graph nodes that compute `tensors` (theirs included)."""
    found, stack = {}, [_node_of(t) for t in tensors]
    while stack:
        node = stack.pop()
        if id(node) not in found:
            found[id(node)] = node
            stack.extend(_node_of(t) for t in node.input_tensors)
    return list(found.values())


def _ancestors(tensors) -> set[int]:
    """ids of `_nodes(tensors)`, for membership tests."""
    return {id(node) for node in _nodes(tensors)}


def crossing_tensors(cnn: keras.Model, layer_name: str) -> list[str]:
    """Names of the tensors that flow from `layer_name` and earlier to later layers.

    A stage boundary needs exactly one: the layer's own output. A skip
    connection that jumps over the layer adds its source to the list.
    """
    output = cnn.get_layer(layer_name).output
    before = _ancestors([output])
    crossing = []
    for node in _nodes(cnn.outputs):
        if id(node) in before:
            continue
        for tensor in node.input_tensors:
            name = tensor._keras_history.operation.name
            if id(_node_of(tensor)) in before and name not in crossing:
                crossing.append(name)
    return crossing


@keras.saving.register_keras_serializable(package="mexit_tf")
class CNNBackbone(keras.Model):
    """A Keras functional CNN, cut at named layers where early exits attach.

    Each cut is a layer whose output is the only tensor that crosses from the
    layers up to it to the layers after it (no skip connection jumps over it),
    so the network splits into stages there and a stage hands on one feature
    map. `cut_points(cnn)` lists the layers that qualify.

    Exit heads read a feature map `(B, H, W, C)` as patch tokens `(B, H*W, C)`
    on an `(H, W)` grid with no class token, so the heads that read patches
    only fit: `sl_vit`, `cnn_ignore`, `mixer_ee`, `resmlp_ee`. Heads built
    around a ViT's class token (`mlp_ee`, `vit_ee`, `cnn_add`, `cnn_project`)
    are refused. The model's output is the last feature map as tokens, for
    the final exit (global average pooling).

    `MultiExitModel(CNNBackbone(cnn, cuts), exits={...})` takes exits by cut
    number (1-based) or by layer name.

    Args:
        cnn: a functional `keras.Model` with one image input, e.g.
            `keras.applications.MobileNetV3Small(include_top=False, weights=None)`.
            It keeps its own preprocessing: raw input goes to it as is, and a
            bundle's stage 0 is fed raw pixels (0..255), so scaling belongs
            inside the CNN (`keras.applications` models have it built in).
        cuts: layer names, in the order the network computes them.
        final_layer: the layer whose output feeds the final exit; default
            the CNN's output.

    Example:
    >>> cnn = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), include_top=False,
    ...                                           weights=None)
    >>> backbone = CNNBackbone(cnn, cuts=["expanded_conv_2_add", "expanded_conv_5_add"])
    >>> model = MultiExitModel(backbone, exits={"expanded_conv_2_add": "sl_vit",
    ...                                         "expanded_conv_5_add": "cnn_ignore"},
    ...                        num_outputs=10)
    """

    def __init__(self, cnn, cuts, final_layer=None, **kwargs):
        if isinstance(cnn, dict):
            cnn = keras.saving.deserialize_keras_object(cnn)
        if not isinstance(cnn, keras.Model) or not hasattr(cnn, "_operations") or len(
                cnn.inputs) != 1:
            raise MexitError(f"CNNBackbone needs a functional keras.Model with one input; "
                             f"received {type(cnn).__name__}.")
        cuts = [str(name) for name in cuts]
        if not cuts:
            raise MexitError("CNNBackbone needs at least one cut layer for an early exit.")
        layer_names = [layer.name for layer in cnn.layers]
        for name in [*cuts, *([final_layer] if final_layer else [])]:
            if name not in layer_names:
                close = difflib.get_close_matches(name, layer_names, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise MexitError(f"The CNN has no layer {name!r}.{hint}")
        for name in cuts:
            crossing = [t for t in crossing_tensors(cnn, name) if t != name]
            if crossing:
                raise MexitError(
                    f"Cannot cut after layer {name!r}: more than one tensor crosses there "
                    f"({', '.join([name, *crossing])}; a skip connection jumps over it). "
                    "Cut at a layer that joins the branches, e.g. an Add after a residual "
                    "block (CNNBackbone.cut_points(cnn) lists them).")
        maps = [cnn.get_layer(name).output for name in cuts]
        final_map = cnn.get_layer(final_layer).output if final_layer else cnn.outputs[0]
        for earlier, later, before, name in zip(maps, [*maps[1:], final_map], cuts,
                                                [*cuts[1:], final_layer or "the output"],
                                                strict=True):
            if id(_node_of(earlier)) not in _ancestors([later]):
                raise MexitError(f"Cuts must follow the network's order: {name!r} does not "
                                 f"come after {before!r}.")
        for name, feature_map in zip([*cuts, "final"], [*maps, final_map], strict=True):
            if len(feature_map.shape) != 4 or None in feature_map.shape[1:]:
                raise MexitError(f"The output of {name!r} has shape {feature_map.shape}; exits "
                                 "need a fixed-size feature map (batch, height, width, channels).")

        # === Layers ===
        self.cnn = cnn
        self.to_tokens = [keras.layers.Reshape((m.shape[1] * m.shape[2], m.shape[3]),
                                               name=f"tokens_{index}")
                          for index, m in enumerate([*maps, final_map], start=1)]

        # === Functional model ===
        block_outputs = {index: reshape(feature_map) for index, (reshape, feature_map) in
                         enumerate(zip(self.to_tokens, maps, strict=False), start=1)}
        super().__init__(inputs=cnn.inputs[0], outputs=self.to_tokens[-1](final_map), **kwargs)

        # === Config ===
        self.cuts = cuts
        self.final_layer = final_layer
        self.feature_maps = [*maps, final_map]
        self.block_outputs = block_outputs
        self.num_layers = len(cuts) + 1
        self.raw_input_shape = tuple(cnn.inputs[0].shape[1:])
        self.image_shape = self.raw_input_shape
        self.input_kind = "image"
        self.use_class_token = False
        self.layer_norm_epsilon = 1e-6
        self.hidden_dim = int(final_map.shape[-1])

    @staticmethod
    def cut_points(cnn: keras.Model) -> list[str]:
        """Layers of `cnn` where exactly one tensor crosses: where stages can be cut."""
        return [layer.name for layer in cnn.layers[1:-1]
                if len(layer._inbound_nodes) == 1
                and crossing_tensors(cnn, layer.name) == [layer.name]]

    def grid_shape_at(self, cut: int) -> tuple[int, int]:
        shape = self.feature_maps[cut - 1].shape
        return int(shape[1]), int(shape[2])

    def cut_number(self, name) -> int:
        if name not in self.cuts:
            raise MexitError(f"Exit at {name!r}: not one of this backbone's cuts "
                             f"({', '.join(self.cuts)}).")
        return self.cuts.index(name) + 1

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "cnn": keras.saving.serialize_keras_object(self.cnn), "cuts": list(self.cuts),
                "final_layer": self.final_layer}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
