"""Float model -> quantization-aware fine-tuning -> metrics: what `mexit qat` runs."""

import time
from pathlib import Path

import keras

from mexit_tf.atomic_files import save_model_atomic, write_json_atomic
from mexit_tf.data.array_batches import ArrayBatches
from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.quantization import quantize_aware
from mexit_tf.training.evaluation import exit_scores, predict_exits
from mexit_tf.training.smoothed_sparse_crossentropy import SmoothedSparseCrossentropy
from mexit_tf.training.trainer import build_optimizer
from mexit_tf.versions import library_versions, machine_description

QAT_DEFAULTS = {"epochs": 1, "learning_rate": 1e-4, "weight_decay": 0.05, "batch_size": 128,
                "label_smoothing": 0.1, "warmup_epochs": 0.0, "jit_compile": True, "seed": 0,
                "run_eagerly": False}


def finetune_qat(model, data: DatasetSplits, out_dir: str | Path | None = None,
                 verbose=None, **settings) -> tuple[keras.Model, dict]:
    """Fine-tunes a quantization-aware copy of `model` on `data`; returns `(qat_model, metrics)`.

    Every exit keeps training (same per-exit losses as `mexit train`), so the
    early exits adapt to int8 too, not only the final one. `metrics` holds the
    float and the QAT model's per-exit accuracy on validation and test. With
    `out_dir`, writes `model.keras` (atomically) and `metrics.json` there.
    """
    config = {**QAT_DEFAULTS, **settings}
    keras.utils.set_random_seed(config["seed"])
    qat = quantize_aware(model)
    batches = ArrayBatches(data.x_train, data.y_train, config["batch_size"],
                           seed=config["seed"])
    loss = (SmoothedSparseCrossentropy(config["label_smoothing"]) if config["label_smoothing"]
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    qat.compile(optimizer=build_optimizer(config, len(batches), config["epochs"]), loss=loss,
                jit_compile=config["jit_compile"], run_eagerly=config["run_eagerly"])
    started = time.perf_counter()
    qat.fit(batches, epochs=config["epochs"], validation_data=(data.x_val, data.y_val),
            verbose=2 if verbose is None else verbose)
    seconds = time.perf_counter() - started
    metrics = {
        "data": data.describe(),
        "float": {"validation": exit_scores(predict_exits(model, data.x_val), data.y_val,
                                            model.is_regression),
                  "test": exit_scores(predict_exits(model, data.x_test), data.y_test,
                                      model.is_regression)},
        "qat": {"validation": exit_scores(predict_exits(qat, data.x_val), data.y_val,
                                          qat.is_regression),
                "test": exit_scores(predict_exits(qat, data.x_test), data.y_test,
                                    qat.is_regression)},
        "train_seconds": round(seconds, 1),
        "config": config,
        "versions": library_versions(),
        "machine": machine_description(),
    }
    if out_dir is not None:
        save_model_atomic(qat, Path(out_dir) / "model.keras")
        write_json_atomic(Path(out_dir) / "metrics.json", metrics)
    return qat, metrics
