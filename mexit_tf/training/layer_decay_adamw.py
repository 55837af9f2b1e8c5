"""AdamW with layer-wise learning-rate decay, for fine-tuning pretrained ViTs."""

import keras


@keras.saving.register_keras_serializable(package="mexit_tf")
class LayerDecayAdamW(keras.optimizers.AdamW):
    """AdamW whose learning rate is scaled per variable (layer-wise decay).

    Fine-tuning a pretrained ViT moves the top blocks more than the bottom
    ones: the patch embedding and first blocks hold generic features that a
    small dataset should barely change (BEiT, MAE, DeiT III use this).
    `layer_rates` maps a variable's path to its multiplier; variables not
    named train at the full rate. Keras 3 has no per-variable rates, so the
    rate is scaled inside `update_step`, which every backend calls per
    variable (scaling gradients instead would do nothing under Adam).

    Example:
    >>> rates = layer_decay_rates(model, decay=0.75)
    >>> optimizer = LayerDecayAdamW(layer_rates=rates, learning_rate=1e-4)
    """

    def __init__(self, layer_rates=None, **kwargs):
        super().__init__(**kwargs)
        self.layer_rates = {str(path): float(rate) for path, rate in (layer_rates or {}).items()}

    def build(self, var_list):
        super().build(var_list)
        # Indexed like Adam's moments, so update_step finds a rate for any backend's variable.
        self._rates = [self.layer_rates.get(variable.path, 1.0) for variable in var_list]

    def update_step(self, gradient, variable, learning_rate):
        rate = self._rates[self._get_variable_index(variable)]
        super().update_step(gradient, variable, learning_rate * rate if rate != 1.0
                            else learning_rate)

    def get_config(self):
        return {**super().get_config(), "layer_rates": dict(self.layer_rates)}


def layer_decay_rates(model, decay: float) -> dict:
    """`{variable path: decay ** depth}`: blocks from the top, stem deepest in the decay.

    Block k of L gets `decay ** (L + 1 - k)`, the patch embedding `decay ** (L + 1)`;
    the final LayerNorm and every head (new weights) train at the full rate.
    """
    backbone = model.backbone
    depth = len(backbone.encoder_blocks) + 1
    layers = [(backbone.patch_embedding, depth)]
    layers += [(block, depth - k) for k, block in enumerate(backbone.encoder_blocks, start=1)]
    return {variable.path: float(decay) ** distance for layer, distance in layers
            for variable in layer.weights}
