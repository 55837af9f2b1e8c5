"""A multi-exit model with some of its early exits left out, sharing every layer."""

from mexit_tf.errors import MexitError
from mexit_tf.models.multi_exit_model import FINAL_EXIT, MultiExitModel


def keep_exits(model: MultiExitModel, names) -> MultiExitModel:
    """`model` with only the exits in `names` (the final exit is always kept).

    The new model shares the backbone and the kept heads with `model` (same
    layers, same weights, fake-quant ranges included), so its exits answer
    exactly as `model`'s do. Exported, a dropped exit's blocks run in the stage
    of the next kept exit, and its head is not in the bundle at all.

    Example:
    >>> pruned = keep_exits(model, ["exit_2", "exit_4"])
    >>> pruned.exit_names
    ['exit_2', 'exit_4', 'final']
    """
    from mexit_tf.models.audio_visual_model import AudioVisualModel

    if isinstance(model, AudioVisualModel):
        raise MexitError("Choosing exits of an audio-visual model is not supported yet; "
                         "export it with all its exits.")
    names = [str(name) for name in names]
    _check_names(names, model, "")
    early = model.exit_names[:-1]
    heads = {block: head for block, head, name in zip(model.exit_blocks, model.exit_heads, early,
                                                      strict=True) if name in names}
    return with_exit_heads(model, heads, f"{model.name}_exits")


def with_exit_heads(model: MultiExitModel, heads: dict, name: str) -> MultiExitModel:
    """`model`'s backbone and final head with the exits `heads` ({block: head layer, or a
    head name for a fresh one}), its records (quantization, data source) carried over."""
    subset = MultiExitModel(model.backbone, exits=heads, num_outputs=model.num_outputs,
                            final_head=model.final_head,
                            final_loss_weight=model.final_loss_weight,
                            predict_variance=model.predict_variance, name=name)
    # The shared layers carry the fake-quant ranges already; the record says so.
    subset.quantization = None if model.quantization is None else dict(model.quantization)
    subset.data_source = model.data_source
    return subset


def parse_exit_list(text: str, model: MultiExitModel) -> list[str]:
    """`--exits exit_2,exit_4` -> the names, checked against `model` (final added)."""
    names = [part.strip() for part in str(text).split(",") if part.strip()]
    if not names:
        raise MexitError(f"--exits takes exit names separated by commas (this model's: "
                         f"{', '.join(model.exit_names)}); received {text!r}.")
    _check_names(names, model, " in --exits")
    return [name for name in model.exit_names if name in names or name == FINAL_EXIT]


def _check_names(names, model, where: str) -> None:
    unknown = [name for name in names if name not in model.exit_names]
    if unknown:
        raise MexitError(f"Unknown exit(s) {', '.join(map(repr, unknown))}{where}; this model's "
                         f"exits are {', '.join(model.exit_names)}.")
