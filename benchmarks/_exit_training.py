"""Training a multi-exit model three ways, for the per-task copycat comparisons.

- *end to end*: backbone and every exit trained together on the labels;
- *plain*: the backbone trained alone with its final exit, frozen, then the
  early exits trained on the labels (paper 2's classifier-wise baseline);
- *copycat*: the same frozen backbone and final exit, the early exits trained
  on the final exit's answers (paper 2).

Plain and copycat share one backbone and final exit, so they differ only in
what the early exits learn from.
"""

import time

import keras
import numpy as np

import mexit_tf
from mexit_tf.data.array_batches import ArrayBatches, example_count
from mexit_tf.training import fit_copycat
from mexit_tf.training.regimes import apply_regime
from mexit_tf.training.smoothed_sparse_crossentropy import SmoothedSparseCrossentropy
from mexit_tf.training.trainer import build_optimizer

SEED = 0
RECIPE = dict(batch_size=64, learning_rate=1e-3, weight_decay=0.05, warmup_epochs=1,
              label_smoothing=0.1)


def fit(model, x, y, epochs, smoke, regime="end_to_end") -> float:
    """The recipe on targets `y`; `regime` says what trains. Returns seconds in `fit`."""
    apply_regime(model, regime)
    batches = ArrayBatches(x, y, RECIPE["batch_size"], seed=SEED)
    loss = ("mse" if model.is_regression
            else SmoothedSparseCrossentropy(RECIPE["label_smoothing"]))
    losses = {name: loss for name in model.exit_names}
    if regime != "end_to_end":  # the final exit is trained already: it stays as it is
        losses.pop("final")
        model.final_head.trainable = False
    model.compile(optimizer=build_optimizer(RECIPE, len(batches), epochs), loss=losses,
                  jit_compile=not smoke, run_eagerly=smoke)
    started = time.perf_counter()
    model.fit(batches, epochs=epochs, verbose=0 if smoke else 2)
    return round(time.perf_counter() - started, 1)


def per_exit_scores(model, x, y) -> dict:
    """Accuracy per exit, or mean absolute error per exit for regression."""
    outputs = model.predict(ArrayBatches(x, batch_size=256, shuffle=False), verbose=0)
    if model.is_regression:
        return {name: round(float(np.mean(np.abs(outputs[name][:, 0] - y))), 4)
                for name in model.exit_names}
    return {name: round(float(np.mean(outputs[name].argmax(-1) == y)), 4)
            for name in model.exit_names}


def with_trained_backbone(trained, head="sl_vit"):
    """Fresh exits after every block, on `trained`'s backbone and final head (shared).

    An audio-visual model gets a visual and an audio-visual exit after every
    block, on its two trained encoders."""
    heads = {block: head for block in range(1, trained.backbone.num_layers)}
    if isinstance(trained, mexit_tf.AudioVisualModel):
        return mexit_tf.AudioVisualModel(
            trained.backbone, trained.audio_backbone, exits=heads, audio_exits=dict(heads),
            num_outputs=trained.num_outputs, final_head=trained.final_head,
            audio_token=trained.audio_token)
    return mexit_tf.MultiExitModel(trained.backbone, exits=heads, num_outputs=trained.num_outputs,
                                   final_head=trained.final_head)


def train_three_ways(build, x, y, epochs, head_epochs, smoke, work=None, name="model"):
    """`({regime: model}, {what: fit seconds})`; `build(exits: bool)` makes a fresh model.

    The two models trained from scratch are cached in `work` (by `name`, the
    recipe and the epochs), so a rerun retrains only the exits.
    """
    from _study import cached_model

    key = {"recipe": RECIPE, "epochs": epochs, "examples": example_count(x), "seed": SEED}

    def trained(exits):
        def produce():
            keras.utils.set_random_seed(SEED)
            model = build(exits)
            return model, fit(model, x, y, epochs, smoke)
        return produce

    end_to_end, seconds_e2e = cached_model(f"{name}_end_to_end", key, trained(True), work)
    alone, seconds_alone = cached_model(f"{name}_alone", key, trained(False), work)
    seconds = {"end_to_end": seconds_e2e, "backbone_alone": seconds_alone}
    models = {"end_to_end": end_to_end}
    for regime in ("plain", "copycat"):
        keras.utils.set_random_seed(SEED)
        model = with_trained_backbone(alone)
        started = time.perf_counter()
        if regime == "plain":
            fit(model, x, y, head_epochs, smoke, "classifier_wise")
        else:  # the same optimizer and schedule as plain: only the targets differ
            steps = len(ArrayBatches(x, batch_size=RECIPE["batch_size"]))
            fit_copycat(model, x, epochs=head_epochs, batch_size=RECIPE["batch_size"],
                        optimizer=build_optimizer(RECIPE, steps, head_epochs),
                        jit_compile=not smoke, run_eagerly=smoke, verbose=0)
        seconds[regime] = round(time.perf_counter() - started, 1)
        models[regime] = model
    return models, seconds


def counting_arguments(parser, train: int, epochs: int, copycat_epochs: int) -> None:
    """The arguments the two counting studies share (`--note` included)."""
    from _common import add_note_argument

    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--train", type=int, default=train, help="training examples")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--copycat-epochs", type=int, default=copycat_epochs)
    parser.add_argument("--target-mae", type=float, default=0.05,
                        help="allowed MAE increase (items) for the policy")
    parser.add_argument("--work", default="runs/study", help="cache of trained models")
    add_note_argument(parser)


def counting_items(args, smoke_sizes):
    """`(items, (train, validation, test) sizes, epochs, head epochs)` for a counting study:
    Fashion-MNIST items, or noise items at `smoke_sizes` and 1 epoch for `--smoke`."""
    if args.smoke:
        from _common import smoke_data

        return smoke_data(), smoke_sizes, 1, 1
    from mexit_tf.data import load_fashion_mnist

    return (load_fashion_mnist(seed=SEED), (args.train, 2000, 2000), args.epochs,
            args.copycat_epochs)
