"""Config -> data -> model -> fit -> metrics: what `mexit train` runs."""

import shutil
import time
from pathlib import Path

import keras

from mexit_tf.atomic_files import save_model_atomic, write_json_atomic
from mexit_tf.data.array_batches import ArrayBatches
from mexit_tf.data.dataset_loader import load_dataset
from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.errors import MexitError
from mexit_tf.models.multi_exit_model import MultiExitModel
from mexit_tf.models.vit_backbone import ViTBackbone
from mexit_tf.training.copycat import fit_copycat
from mexit_tf.training.evaluation import exit_scores, predict_exits
from mexit_tf.training.finetune import fit_finetune
from mexit_tf.training.photo_augmentation import build_photo_augmentation
from mexit_tf.training.progress_lines import ProgressLines
from mexit_tf.training.regimes import apply_regime, check_regime, fit_layer_wise
from mexit_tf.training.run_folder import BACKUP
from mexit_tf.training.smoothed_sparse_crossentropy import SmoothedSparseCrossentropy
from mexit_tf.versions import library_versions, machine_description


def build_model(config: dict, data: DatasetSplits, pretrained=None) -> MultiExitModel:
    """The config's model: a named ViT size at random init, or (`pretrained`, the
    config's `"pretrained"` source) a keras-hub ViT/DeiT/DINOv2 with its weights, its
    preprocessing folded in and a fresh final head for the data's classes.
    `pretrained` is `(backbone, image_converter)` when the caller loaded it already."""
    if len(data.class_names) < 2:
        # One output would make a regression model: a classifier needs two classes.
        raise MexitError(f"{data.source} has {len(data.class_names)} class "
                         f"({', '.join(data.class_names) or 'none'}); a classifier needs at "
                         "least two class folders.")
    if config.get("pretrained"):
        from mexit_tf.models.keras_hub_import import from_keras_hub
        from mexit_tf.models.keras_hub_source import load_keras_hub_backbone

        hub, converter = pretrained or load_keras_hub_backbone(config["pretrained"])
        # No converter saved with it: raw 0..255 pixels scaled as keras-hub's ViTs expect.
        return from_keras_hub(hub, exits=config["exits"], num_outputs=len(data.class_names),
                              image_shape=data.image_shape, image_converter=converter,
                              pixel_scale=None if converter is not None else 1 / 255.0)
    backbone = ViTBackbone.from_preset(config["vit"], image_shape=data.image_shape,
                                       **config.get("backbone", {}))
    return MultiExitModel(backbone, exits=config["exits"], num_outputs=len(data.class_names))


def build_optimizer(config: dict, steps_per_epoch: int, epochs: int) -> keras.optimizers.AdamW:
    """AdamW with linear warm-up and cosine decay."""
    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, int(config.get("warmup_epochs", 0) * steps_per_epoch))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config["learning_rate"], decay_steps=total - warmup,
        warmup_target=config["learning_rate"] if warmup else None, warmup_steps=warmup)
    return keras.optimizers.AdamW(schedule, weight_decay=config.get("weight_decay", 0.0))


def _verbose():
    import sys

    return 1 if sys.stdout.isatty() else 2


def train_from_config(config: dict, out_dir: str | Path, data: DatasetSplits | None = None,
                      verbose=None, callbacks=None, pretrained=None) -> dict:
    """Trains a multi-exit model from a preset config and writes, in `out_dir`:

    - `model.keras`: the trained model (written atomically);
    - `metrics.json`: per-exit accuracy on validation and test, timings, versions.

    An interrupted run resumes from `out_dir/.backup` when started again with the
    same arguments (`keras.callbacks.BackupAndRestore`).
    """
    out_dir = Path(out_dir)
    regime = check_regime(config.get("regime", "end_to_end"))
    verbose = _verbose() if verbose is None else verbose
    keras.utils.set_random_seed(config.get("seed", 0))
    if config.get("pretrained"):
        from mexit_tf.models.keras_hub_source import load_keras_hub_backbone, pretrained_exits

        pretrained = pretrained or load_keras_hub_backbone(config["pretrained"])
        if config.get("exits") is None:
            config = {**config, "exits": pretrained_exits(pretrained[0])}
    data = data or load_dataset(config)
    model = build_model(config, data, pretrained)
    model.data_source = dict(data.record) or None
    augmentation = build_photo_augmentation(**config.get("augment", {}),
                                            seed=config.get("seed", 0))
    batches = ArrayBatches(data.x_train, data.y_train, config["batch_size"], augmentation,
                           seed=config.get("seed", 0))
    epochs = int(config["epochs"])
    smoothing = float(config.get("label_smoothing", 0.0))
    loss = (SmoothedSparseCrossentropy(smoothing) if smoothing
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    started = time.perf_counter()
    callbacks = [keras.callbacks.BackupAndRestore(str(out_dir / ".backup")), *(callbacks or [])]
    if verbose == 2:  # not a terminal: Keras prints one line per epoch, so add step lines
        callbacks.append(ProgressLines(len(batches)))
    validation = (data.x_val, data.y_val)
    if regime == "finetune":
        fit_finetune(model, batches, config, loss, str(out_dir / BACKUP), callbacks[1:],
                     validation_data=validation, verbose=verbose)
        shutil.rmtree(out_dir / BACKUP, ignore_errors=True)  # both phases' backups are done
    elif regime == "layer_wise":
        phases = len(model.exit_names)
        per_phase = max(1, epochs // phases)
        fit_layer_wise(
            model, batches, epochs_per_exit=per_phase,
            compile_kwargs=dict(optimizer=build_optimizer(config, len(batches), per_phase),
                                loss=loss, jit_compile=config.get("jit_compile", "auto")),
            validation_data=validation, verbose=verbose)
    else:
        apply_regime(model, regime if regime != "copycat" else "end_to_end")
        model.compile(optimizer=build_optimizer(config, len(batches), epochs), loss=loss,
                      jit_compile=config.get("jit_compile", "auto"))
        model.fit(batches, epochs=epochs, validation_data=validation, callbacks=callbacks,
                  verbose=verbose)
    copycat_epochs = int(config.get("copycat_epochs", 0) or (regime == "copycat"))
    if copycat_epochs:
        copy_batches = len(ArrayBatches(data.x_train, batch_size=config["batch_size"]))
        fit_copycat(model, data.x_train, epochs=copycat_epochs,
                    optimizer=build_optimizer(config, copy_batches, copycat_epochs),
                    batch_size=config["batch_size"], augmentation=augmentation,
                    validation=validation, verbose=verbose,
                    jit_compile=config.get("jit_compile", "auto"))
    train_seconds = time.perf_counter() - started
    metrics = {
        "data": data.describe(),
        "validation": exit_scores(predict_exits(model, data.x_val), data.y_val,
                                  model.is_regression),
        "test": exit_scores(predict_exits(model, data.x_test), data.y_test,
                            model.is_regression),
        "train_seconds": round(train_seconds, 1),
        "config": {key: value for key, value in config.items() if key != "exits"}
        | {"exits": {str(k): v for k, v in config["exits"].items()}},
        "class_names": data.class_names,
        "versions": library_versions(),
        "machine": machine_description(),
    }
    save_model_atomic(model, out_dir / "model.keras")
    write_json_atomic(out_dir / "metrics.json", metrics)
    return metrics
