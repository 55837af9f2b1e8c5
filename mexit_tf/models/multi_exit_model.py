import keras
import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.layers.classifier_head import ClassifierHead
from mexit_tf.layers.exits import ExitHead, get_exit_head

FINAL_EXIT = "final"


def exit_name(block: int) -> str:
    return f"exit_{block}"


def check_exits(exits, num_layers) -> list:
    """Checks exit positions and head names before anything is built (`mexit train`)."""
    from mexit_tf.layers.exits import EXIT_HEADS

    pairs = _normalise_exits(exits, num_layers)
    for block, head in pairs:
        name = head.get("type") if isinstance(head, dict) else head
        if isinstance(name, str) and name not in EXIT_HEADS:
            raise MexitError(f"Unknown exit head {name!r} after block {block}; known heads: "
                             f"{', '.join(sorted(EXIT_HEADS))}.")
    return pairs


def quarter_exits(num_layers: int, head: str = "mlp_ee") -> dict:
    """`{block: head}` after 1/4, 1/2 and 3/4 of the blocks (fewer on shallow backbones):
    the default exits on a pretrained backbone, whose depth the user did not choose."""
    blocks = sorted({max(1, round(num_layers * q)) for q in (0.25, 0.5, 0.75)})
    return {block: head for block in blocks if block < num_layers}


def _normalise_exits(exits, num_layers):
    """Accepts `{block: head}` or `[(block, head), ...]`; returns a sorted list of pairs."""
    pairs = list(exits.items()) if isinstance(exits, dict) else list(exits)
    seen = set()
    normalised = []
    for block, head in pairs:
        try:
            index = int(block)
        except (TypeError, ValueError):
            raise MexitError(f"Exit positions are block numbers; received {block!r}.") from None
        if isinstance(block, bool) or not 1 <= index < num_layers:
            raise MexitError(
                f"Exit after block {block!r} is out of range: early exits go after blocks "
                f"1..{num_layers - 1} of this {num_layers}-block backbone (the final exit "
                "is always added after the last block).")
        if index in seen:
            raise MexitError(f"Two exits after block {index}; give one head per block.")
        seen.add(index)
        normalised.append((index, head))
    return sorted(normalised, key=lambda pair: pair[0])


@keras.saving.register_keras_serializable(package="mexit_tf")
class MultiExitModel(keras.Model):
    """A ViT backbone with early-exit heads; outputs one prediction per exit.

    Outputs are a dict keyed by exit name (`"exit_{block}"`, then `"final"`);
    `exit_names` lists them from shallowest to deepest. `fit(x, y)` with a
    single `y` trains every exit on it; `compile()` defaults to per-exit
    cross-entropy (classification) or MSE (regression, `num_outputs=1`) with
    loss weights 1 for early exits and `final_loss_weight` (2) for the final
    exit, and per-exit accuracy or MAE.

    Args:
        backbone: a `ViTBackbone`, or a `CNNBackbone` (a Keras CNN cut at
            named layers; exits then go by cut number or layer name).
        exits: `{block: head}`; a head is a short name (`"sl_vit"`), a dict
            `{"type": "sl_vit", **kwargs}`, or an `ExitHead` instance. Block k
            means "after the k-th encoder block" (1-based, < num_layers).
        num_outputs: classes, or 1 for regression.
        predict_variance: regression only: every exit outputs `(mean,
            log-variance)` and trains with `GaussianNLL`, so it can say how
            sure it is (`VariancePolicy` gates on that).
        final_head: the final exit's head; defaults to `ClassifierHead`.
        final_loss_weight: default loss weight of the final exit in `compile`.

    `model.data_source` (a dict, or None) records the training data (`mexit train`
    sets it); it is saved with the model and travels into the bundle's manifest.

    Example:
    >>> backbone = ViTBackbone.from_preset("XS/4", image_shape=(28, 28, 1), num_layers=3)
    >>> model = MultiExitModel(backbone, exits={1: "mlp_ee", 2: "sl_vit"}, num_outputs=10)
    >>> model.exit_names
    ['exit_1', 'exit_2', 'final']
    """

    def __init__(self, backbone, exits, num_outputs, final_head=None, final_loss_weight=2.0,
                 predict_variance=False, **kwargs):
        if hasattr(backbone, "cut_number"):  # a CNNBackbone also takes exits by layer name
            exits = [(backbone.cut_number(block) if isinstance(block, str) else block, head)
                     for block, head in (exits.items() if isinstance(exits, dict) else exits)]
        pairs = _normalise_exits(exits, backbone.num_layers)
        if predict_variance and int(num_outputs) != 1:
            raise MexitError(f"predict_variance is for regression (num_outputs=1); received "
                             f"num_outputs={num_outputs!r}.")
        # What each head emits: the prediction, plus its log-variance if asked.
        head_outputs = 2 if predict_variance else num_outputs

        # === Layers ===
        self.backbone = backbone
        self.exit_heads = [self._build_head(block, head, backbone, head_outputs)
                           for block, head in pairs]
        if final_head is None:
            final_head = ClassifierHead(
                head_outputs, pooling="token" if backbone.use_class_token else "gap",
                name=FINAL_EXIT)

        # === Functional model ===
        outputs = {exit_name(block): head(backbone.block_outputs[block])
                   for (block, _), head in zip(pairs, self.exit_heads, strict=True)}
        outputs[FINAL_EXIT] = final_head(backbone.output)
        super().__init__(inputs=backbone.input, outputs=outputs, **kwargs)

        # === Config ===
        self.final_head = final_head
        self.exit_blocks = [block for block, _ in pairs]
        self.exit_names = [exit_name(block) for block in self.exit_blocks] + [FINAL_EXIT]
        # Per exit, final included: does it read an audio token? (`AudioVisualModel`)
        self.exit_uses_audio = [False] * len(self.exit_names)
        self.num_outputs = int(num_outputs)
        self.predict_variance = bool(predict_variance)
        self.final_loss_weight = float(final_loss_weight)
        # QAT options once `quantize_aware` has attached fake-quant layers.
        self.quantization = None
        # Where the training data came from (`DatasetSplits.record`: kind, path, image
        # size, colour mode, class names, split rule, seed); saved with the model so
        # export, calibrate and eval default to it and check labels by name.
        self.data_source = None

    @staticmethod
    def _build_head(block, head, backbone, num_outputs):
        defaults = dict(grid_shape=backbone.grid_shape_at(block),
                        class_token=backbone.use_class_token,
                        layer_norm_epsilon=backbone.layer_norm_epsilon, name=exit_name(block),
                        extra_tokens=getattr(backbone, "extra_tokens", 0))
        if isinstance(head, str):
            head = {"type": head}
        if isinstance(head, dict):
            options = dict(head)
            name = options.pop("type", None)
            if name == "vit_ee" and hasattr(backbone, "num_heads"):
                defaults.update(num_heads=backbone.num_heads, mlp_dim=backbone.mlp_dim)
            return get_exit_head(name, num_outputs, **{**defaults, **options})
        if not isinstance(head, ExitHead):
            raise MexitError(
                f"Exit after block {block}: expected a head name, a dict with 'type' or an "
                f"ExitHead layer; received {type(head).__name__}.")
        if head.class_token != backbone.use_class_token:
            raise MexitError(
                f"Exit after block {block}: head built with class_token={head.class_token} "
                f"but the backbone has use_class_token={backbone.use_class_token}.")
        if head.extra_tokens != getattr(backbone, "extra_tokens", 0):
            raise MexitError(
                f"Exit after block {block}: head built with extra_tokens={head.extra_tokens} "
                f"but the backbone has {backbone.extra_tokens} (distillation/register tokens).")
        return head

    @property
    def encoders(self) -> list:
        """What the training regimes freeze with the backbone (`AudioVisualModel`: more)."""
        return [self.backbone]

    @property
    def is_regression(self) -> bool:
        return self.num_outputs == 1

    def compile(self, optimizer="adamw", loss=None, loss_weights=None, metrics=None, **kwargs):
        """Like `keras.Model.compile`, with per-exit defaults.

        A single `loss` or `metrics` list applies to every exit (each exit
        gets its own metric objects); dicts keyed by exit name pass through.
        """
        # Imported here: mexit_tf.training imports this module.
        from mexit_tf.training.gaussian_nll import GaussianNLL
        from mexit_tf.training.predicted_mean_absolute_error import PredictedMeanAbsoluteError

        if loss is None and self.predict_variance:
            loss = GaussianNLL()
        elif loss is None:
            loss = ("mse" if self.is_regression
                    else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if not isinstance(loss, dict):
            loss = {name: loss for name in self.exit_names}
        if loss_weights is None:
            loss_weights = {name: self.final_loss_weight if name == FINAL_EXIT else 1.0
                            for name in loss}
        if metrics is None and self.predict_variance:
            metrics = [PredictedMeanAbsoluteError()]
        elif metrics is None:
            metrics = ["mae"] if self.is_regression else ["accuracy"]
        if not isinstance(metrics, dict):
            metrics = {name: [_fresh_metric(m) for m in metrics] for name in self.exit_names}
        super().compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                        metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Our compile() takes the saved per-exit dicts as they are, so loading
        # restores the compiled state (Keras skips this for custom compile()).
        from mexit_tf.training import gaussian_nll, predicted_mean_absolute_error  # noqa: F401

        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _per_exit(self, value):
        if value is None or isinstance(value, dict):
            return value
        return {name: value for name in self.exit_names}

    def _targets_for(self, y, y_pred):
        """One target trains every exit: broadcast it, so plain `fit(x, y)` works.

        Targets given for some exits only (copycat) leave the others out.
        """
        y = self._per_exit(y)
        if isinstance(y, dict) and isinstance(y_pred, dict) and set(y) != set(y_pred):
            y_pred = {name: y_pred[name] for name in y}
        return y, y_pred

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y, y_pred = self._targets_for(y, y_pred)
        return super().compute_loss(x, y, y_pred, self._per_exit(sample_weight),
                                    training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y, y_pred = self._targets_for(y, y_pred)
        return super().compute_metrics(x, y, y_pred, self._per_exit(sample_weight))

    def fit(self, x=None, y=None, *args, **kwargs):
        _check_arrays(x, y, self.num_outputs)
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        _check_arrays(x, y, self.num_outputs)
        return super().evaluate(x, y, *args, **kwargs)

    def get_config(self):
        return {
            "name": self.name, "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "exits": {str(block): keras.saving.serialize_keras_object(head)
                      for block, head in zip(self.exit_blocks, self.exit_heads, strict=True)},
            "num_outputs": self.num_outputs,
            "final_head": keras.saving.serialize_keras_object(self.final_head),
            "final_loss_weight": self.final_loss_weight,
            "predict_variance": self.predict_variance,
            "quantization": None if self.quantization is None else dict(self.quantization),
            "data_source": self.data_source,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        config["final_head"] = keras.saving.deserialize_keras_object(config["final_head"])
        config["exits"] = {int(block): keras.saving.deserialize_keras_object(head)
                           for block, head in config["exits"].items()}
        quantization = config.pop("quantization", None)
        data_source = config.pop("data_source", None)
        model = cls(**config)
        model.data_source = data_source
        if quantization is not None:
            # Re-attach the fake-quant layers before Keras loads their ranges.
            from mexit_tf.quantization.quantize_aware import install_quantizers

            install_quantizers(model, quantization)
        return model


def _fresh_metric(metric):
    if isinstance(metric, str):
        return metric
    return keras.metrics.deserialize(keras.metrics.serialize(metric))


def _check_arrays(x, y, num_outputs):
    """Clear messages for the common mistakes with in-memory arrays."""
    if not isinstance(x, np.ndarray):
        return
    if len(x) == 0:
        raise MexitError("The dataset is empty: received 0 inputs.")
    if y is None or isinstance(y, dict):
        return
    y = np.asarray(y)
    if len(y) != len(x):
        raise MexitError(f"Got {len(x)} inputs but {len(y)} labels.")
    if num_outputs > 1:
        if y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
            raise MexitError(
                f"Labels must be class indices of shape (N,) or (N, 1); received shape "
                f"{y.shape}. (One-hot labels? Use y.argmax(-1).)")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= num_outputs:
            raise MexitError(
                f"Labels must be integers in [0, {num_outputs}); received dtype {y.dtype} "
                f"with range [{y.min()}, {y.max()}].")
    elif y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1):
        raise MexitError(f"Regression targets must have shape (N,) or (N, 1); "
                         f"received {y.shape}.")
