"""What `mexit train --out` may write into: a new folder, or a run of ours when asked."""

import json
import shutil
from pathlib import Path

from mexit_tf.errors import MexitError

BACKUP = ".backup"  # keras.callbacks.BackupAndRestore's folder inside a run


def is_mexit_run(folder: str | Path) -> bool:
    """True for a folder holding a finished run's metrics.json written by mexit."""
    try:
        metrics = json.loads((Path(folder) / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and {"config", "versions"} <= set(metrics)


def prepare_run_folder(out: str | Path, overwrite: bool = False, resume: bool = False) -> str:
    """Checks `out` before training; returns "new", "resume" or "overwrite".

    A folder without our files is written into (nothing else in it is touched).
    A finished run is replaced only with `overwrite`; an interrupted one (Keras'
    backup folder) continues with `resume` or starts again with `overwrite`. A
    `model.keras` that no mexit run wrote is never replaced.
    """
    out = Path(out)
    if overwrite and resume:
        raise MexitError("Pass --overwrite or --resume, not both.")
    if out.exists() and not out.is_dir():
        raise MexitError(f"--out {str(out)!r} is a file; a run is a folder. Choose another "
                         "--out (nothing was written).")
    model, backup = out / "model.keras", out / BACKUP
    finished, interrupted = is_mexit_run(out), backup.is_dir()
    if not finished and not interrupted:
        if model.exists() or (out / "metrics.json").exists():
            raise MexitError(f"{str(out)!r} holds a model.keras or metrics.json that no mexit "
                             "run wrote; refusing to replace it. Choose another --out.")
        if resume:
            raise MexitError(f"Nothing to resume in {str(out)!r}: no interrupted run there.")
        return "new"
    if resume:
        if not interrupted:
            raise MexitError(f"The run in {str(out)!r} finished; nothing to resume. Pass "
                             "--overwrite to train it again.")
        return "resume"
    if overwrite:
        # Otherwise Keras would restore the old run's weights and epoch.
        shutil.rmtree(backup, ignore_errors=True)
        return "overwrite"
    state = "an interrupted run" if interrupted and not finished else "a finished run"
    raise MexitError(f"{str(out)!r} holds {state}; pass --resume to continue an interrupted "
                     "run or --overwrite to replace it.")
