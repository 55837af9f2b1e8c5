import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_native_stderr():
    """Mutes what C++ code writes to file descriptor 2 (TensorFlow's absl logs).

    TensorFlow's start-up and converter lines are printed before any log level
    applies and bury our own output. Python exceptions still surface: they
    propagate after stderr is restored. Set MEXIT_SHOW_TF_LOGS=1 to see them.
    """
    if os.environ.get("MEXIT_SHOW_TF_LOGS"):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
