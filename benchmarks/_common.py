"""Shared by the benchmark scripts: side-by-side timing and result files."""

import statistics
import time
from pathlib import Path

from mexit_tf.atomic_files import write_json_atomic
from mexit_tf.versions import library_versions, machine_description

RESULTS = Path(__file__).parent / "results"


def smoke_model_and_data():
    """An untrained 3-block toy model and 48/48/48 splits of noise, for `--smoke` runs."""
    import numpy as np

    import mexit_tf
    from mexit_tf.data.dataset_splits import DatasetSplits

    backbone = mexit_tf.ViTBackbone((8, 8, 1), 2, 16, 3, 2, 32)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "mlp_ee", 2: "mlp_ee"}, num_outputs=3)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (144, 8, 8, 1)).astype("uint8")
    y = rng.integers(0, 3, 144)
    data = DatasetSplits(x[:48], y[:48], x[48:96], y[48:96], x[96:], y[96:],
                         ["a", "b", "c"], "synthetic noise (smoke)")
    return model, data


def interleaved_medians(candidates: dict, runs: int, warmup: int = 20) -> dict:
    """Median ms of each zero-argument callable, timed in alternation run by run.

    Alternating spreads any drift of the machine (other load, frequency) over
    every candidate alike, which keeps their ratio honest.
    """
    for _ in range(warmup):
        for call in candidates.values():
            call()
    samples = {name: [] for name in candidates}
    for _ in range(runs):
        for name, call in candidates.items():
            started = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - started) * 1000.0)
    return {name: statistics.median(values) for name, values in samples.items()}


def save_result(name: str, result: dict, command: str) -> Path:
    path = RESULTS / f"{name}.json"
    write_json_atomic(path, {"benchmark": name, **result, "command": command,
                             "versions": library_versions(), "machine": machine_description()})
    return path
