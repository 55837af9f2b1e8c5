"""Shared by the benchmark scripts: side-by-side timing and result files."""

from pathlib import Path

from mexit_tf.atomic_files import write_json_atomic
from mexit_tf.runtime.interleaved_timing import interleaved_medians  # noqa: F401 (re-exported)
from mexit_tf.versions import library_versions, machine_description

RESULTS = Path(__file__).parent / "results"


def smoke_data(count: int = 48):
    """`count`/`count`/`count` train/validation/test splits of 8x8 noise in 3 classes."""
    import numpy as np

    from mexit_tf.data.dataset_splits import DatasetSplits

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3 * count, 8, 8, 1)).astype("uint8")
    y = rng.integers(0, 3, 3 * count)
    return DatasetSplits(x[:count], y[:count], x[count:2 * count], y[count:2 * count],
                         x[2 * count:], y[2 * count:], ["a", "b", "c"],
                         "synthetic noise (smoke)")


def smoke_model_and_data():
    """An untrained 3-block toy model and `smoke_data()`, for `--smoke` runs."""
    import mexit_tf

    backbone = mexit_tf.ViTBackbone((8, 8, 1), 2, 16, 3, 2, 32)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "mlp_ee", 2: "mlp_ee"}, num_outputs=3)
    return model, smoke_data()


def run_call(stage, x):
    """A zero-argument `stage.run` on a private float32 copy of `x` (an array, or a dict
    by role), for `interleaved_medians`.

    The copy matters when `x` is a view of another stage's buffer, which that
    stage overwrites when it runs again.
    """
    import numpy as np

    x = ({role: np.array(v, dtype="float32") for role, v in x.items()} if isinstance(x, dict)
         else np.array(x, dtype="float32"))
    return lambda: stage.run(x)


def add_note_argument(parser) -> None:
    parser.add_argument("--note", default="", help="saved with the result and shown in the "
                        "report, e.g. when the run shared the machine with other work")


def save_result(name: str, result: dict, command: str, seed: int = 0, note: str = "") -> Path:
    """Writes `results/{name}.json` with what reproduces it: command, seed, versions, machine,
    and a `note` on how clean the run was (the report prints it)."""
    path = RESULTS / f"{name}.json"
    write_json_atomic(path, {"benchmark": name, **result, "command": command, "seed": seed,
                             **({"note": note} if note else {}),
                             "versions": library_versions(), "machine": machine_description()})
    return path
