"""Training regimes of paper 1: end-to-end, classifier-wise and layer-wise."""

from mexit_tf.errors import MexitError
from mexit_tf.models.multi_exit_model import FINAL_EXIT

REGIMES = ("end_to_end", "classifier_wise", "layer_wise", "copycat", "finetune")


def check_regime(regime: str) -> str:
    if regime not in REGIMES:
        raise MexitError(f"Unknown training regime {regime!r}; choose one of "
                         f"{', '.join(REGIMES)}.")
    return regime


def apply_regime(model, regime: str) -> None:
    """Sets what trains. Call before `compile`.

    - `end_to_end`: everything trains.
    - `classifier_wise`: the backbone is frozen; only exit heads (and the final
      head) train. For a pretrained backbone.
    - `copycat`: as classifier-wise, and the final head is frozen too (its
      predictions are the targets; see `fit_copycat`).

    `finetune` runs two of these in turn (`fit_finetune`), not one.
    """
    check_regime(regime)
    _unfreeze(model)
    if regime in ("classifier_wise", "copycat"):
        for encoder in model.encoders:
            encoder.trainable = False
    if regime == "copycat":
        model.final_head.trainable = False


def layer_wise_phases(model) -> list[dict]:
    """The phases of greedy layer-wise training, shallowest first.

    Phase i trains the encoder blocks between exit i-1 and exit i and exit i's
    head, with everything before it frozen; only exit i's loss counts. The
    patch embedding trains with the first phase, the final LayerNorm with the
    last.
    """
    backbone = model.backbone
    if len(model.encoders) > 1:
        raise MexitError("Layer-wise training splits one ViT into its encoder blocks; this "
                         f"{type(model).__name__} has {len(model.encoders)} encoders. Train it "
                         "end to end, classifier-wise or with copycat.")
    if not hasattr(backbone, "encoder_blocks"):
        raise MexitError(f"Layer-wise training splits a ViT into its encoder blocks; this "
                         f"model's backbone is a {type(backbone).__name__}. Train it end to "
                         "end, classifier-wise or with copycat.")
    bounds = [0, *model.exit_blocks, backbone.num_layers]
    heads = [*model.exit_heads, model.final_head]
    phases = []
    for index, name in enumerate(model.exit_names):
        layers = list(backbone.encoder_blocks[bounds[index]:bounds[index + 1]]) + [heads[index]]
        if index == 0:
            layers.append(backbone.patch_embedding)
        if name == FINAL_EXIT:
            layers.append(backbone.final_norm)
        phases.append({"exit": name, "layers": layers})
    return phases


def fit_layer_wise(model, x, y=None, epochs_per_exit: int = 1, compile_kwargs=None,
                   **fit_kwargs) -> list:
    """Layer-wise training: one `fit` per exit (see `layer_wise_phases`).

    `compile_kwargs` go to every phase's `compile` (optimizer is rebuilt per
    phase from its config). Returns the list of `History` objects.
    """
    compile_kwargs = dict(compile_kwargs or {})
    optimizer = compile_kwargs.pop("optimizer", "adamw")
    histories = []
    for phase in layer_wise_phases(model):
        # A frozen parent hides its children's weights in Keras 3, so freeze
        # the top-level layers one by one instead of the whole model.
        _unfreeze(model)
        for layer in model.layers:
            layer.trainable = any(layer is trained for trained in phase["layers"])
        weights = {name: float(name == phase["exit"]) for name in model.exit_names}
        phase_optimizer = optimizer
        if not isinstance(optimizer, str):
            phase_optimizer = optimizer.__class__.from_config(optimizer.get_config())
        model.compile(optimizer=phase_optimizer, loss_weights=weights, **compile_kwargs)
        histories.append(model.fit(x, y, epochs=epochs_per_exit, **fit_kwargs))
    _unfreeze(model)
    return histories


def _unfreeze(model) -> None:
    # Setting `trainable` on the model alone does not reach layers that were
    # frozen one by one, so every top-level layer is set explicitly.
    model.trainable = True
    for layer in model.layers:
        layer.trainable = True
    # The backbone's blocks are the model's own layers, so the loop above
    # unfreezes them without the backbone knowing; Keras skips setting a
    # `trainable` that has not changed, so say it first, or freezing the
    # backbone again (another regime, another model sharing it) does nothing.
    for encoder in model.encoders:
        encoder.trainable = True
