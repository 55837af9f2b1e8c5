"""The `finetune` regime: exits on a frozen pretrained backbone, then everything, gently."""

import keras

from mexit_tf.training.layer_decay_adamw import LayerDecayAdamW, layer_decay_rates
from mexit_tf.training.regimes import apply_regime


def _schedule(rate: float, steps: int, warmup: int):
    """Linear warm-up to `rate`, then cosine decay to 0."""
    warmup = min(max(0, warmup), steps - 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else rate, decay_steps=max(1, steps - warmup),
        warmup_target=rate if warmup else None, warmup_steps=warmup)


def fit_finetune(model, batches, config: dict, loss, backup_dir: str, callbacks=(),
                 **fit_kwargs) -> list:
    """Two phases on a model whose backbone holds pretrained weights:

    1. `head_epochs` at `head_learning_rate` with the backbone frozen: the
       exits (and the fresh final head) learn on pretrained features first,
       so their first, large gradients do not reach and wreck those features.
    2. `epochs` with everything training at `learning_rate` (lower), decayed
       per block by `layer_decay` from the top (`LayerDecayAdamW`), after
       `warmup_epochs` of linear warm-up.

    Each phase backs up to its own folder under `backup_dir`, so an
    interrupted run resumes in the phase it stopped in. Returns the Histories.
    """
    steps = len(batches)
    jit = config.get("jit_compile", "auto")
    weight_decay = config.get("weight_decay", 0.0)
    histories = []
    head_epochs = int(config.get("head_epochs", 0))
    if head_epochs:
        apply_regime(model, "classifier_wise")
        model.compile(optimizer=keras.optimizers.AdamW(
            _schedule(config["head_learning_rate"], steps * head_epochs, 0),
            weight_decay=weight_decay), loss=loss, jit_compile=jit)
        histories.append(model.fit(batches, epochs=head_epochs, callbacks=[
            keras.callbacks.BackupAndRestore(f"{backup_dir}/heads"), *callbacks], **fit_kwargs))
    apply_regime(model, "end_to_end")
    epochs = int(config["epochs"])
    warmup = int(config.get("warmup_epochs", 0) * steps)
    optimizer = LayerDecayAdamW(
        layer_rates=layer_decay_rates(model, config.get("layer_decay", 1.0)),
        learning_rate=_schedule(config["learning_rate"], steps * epochs, warmup),
        weight_decay=weight_decay)
    model.compile(optimizer=optimizer, loss=loss, jit_compile=jit)
    histories.append(model.fit(batches, epochs=epochs, callbacks=[
        keras.callbacks.BackupAndRestore(f"{backup_dir}/all"), *callbacks], **fit_kwargs))
    return histories
