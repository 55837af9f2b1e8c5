"""`quantize_aware`: the QAT entry point, applied the TFMOT way (clone, then rules)."""


from mexit_tf.errors import MexitError
from mexit_tf.quantization.quantize_rules import KEEP_FLOAT, rule_for

DEFAULT_CONFIG = {"num_bits": 8, "ema_decay": 0.999, "skip": []}


def quantize_aware(model, config: dict | None = None):
    """Returns a quantization-aware copy of a `MultiExitModel`.

    Every Dense, EinsumDense and Conv layer (backbone and every exit head) gets
    fake-quant on its input, kernel and output, and self-attention on its two
    matmuls; LayerNorm and the embeddings stay float. The copy trains with
    `fit` (activation ranges follow a moving average of what it sees), saves to
    `.keras` and loads back quantization-aware. `model` is left untouched.

    Args:
        model: a float `MultiExitModel`.
        config: `{"num_bits": 8, "ema_decay": 0.999, "skip": [layer names]}`;
            a skipped layer (and everything inside it) stays float.

    Example:
    >>> qat = quantize_aware(model)
    >>> qat.compile(optimizer=keras.optimizers.AdamW(1e-4))
    >>> qat.fit(x, y, epochs=1)
    """
    from mexit_tf.models.multi_exit_model import MultiExitModel

    if not isinstance(model, MultiExitModel):
        raise MexitError(f"quantize_aware expects a mexit_tf MultiExitModel; received "
                         f"{type(model).__name__}.")
    if model.quantization is not None:
        raise MexitError(f"Model {model.name!r} is already quantization-aware; fine-tune it "
                         "with fit, or export it with --quantize int8.")
    config = resolve_config(config)
    clone = MultiExitModel.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    install_quantizers(clone, config)
    return clone


def resolve_config(config: dict | None) -> dict:
    unknown = set(config or {}) - set(DEFAULT_CONFIG)
    if unknown:
        raise MexitError(f"Unknown QAT option(s) {sorted(unknown)}; known: "
                         f"{sorted(DEFAULT_CONFIG)}.")
    config = {**DEFAULT_CONFIG, **(config or {})}
    if config["num_bits"] != 8:
        raise MexitError(f"TFLite integer kernels are 8-bit; received num_bits="
                         f"{config['num_bits']!r}.")
    config["skip"] = list(config["skip"])
    return config


def install_quantizers(model, config: dict) -> None:
    """Applies the rules to `model`'s layers in place and records `config` on it."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    names = {layer.name for layer in layers}
    missing = sorted(set(config["skip"]) - names)
    if missing:
        raise MexitError(f"QAT skip list names layer(s) {missing} that the model does not "
                         "have.")
    skipped = set()
    for layer in layers:
        if layer.name in config["skip"]:
            skipped.update(id(inner) for inner in layer._flatten_layers(include_self=True))
        if id(layer) in skipped:
            continue
        rule = rule_for(layer)
        if rule is not None:
            rule(layer, config)
        elif not isinstance(layer, KEEP_FLOAT) and _own_variables(layer):
            raise MexitError(
                f"QAT has no rule for layer {layer.name!r} ({type(layer).__name__}), which "
                f"holds weights. Keep it float with config={{'skip': [{layer.name!r}]}}, or "
                "add a rule with mexit_tf.quantization.register_quantize_rule.")
    model.quantization = config


def _own_variables(layer):
    inner = {id(v) for sub in layer._flatten_layers(include_self=False) for v in sub.variables}
    return [v for v in layer.variables if id(v) not in inner]


def quantizers_of(model):
    """Every FakeQuant layer attached to `model`."""
    from mexit_tf.quantization.fake_quant import FakeQuant

    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, FakeQuant)]
