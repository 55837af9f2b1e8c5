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
        # C's stderr is block-buffered when it is not a terminal: flush what native
        # code wrote while fd 2 still points to /dev/null, or it comes out later.
        _flush_c_stdio()
        os.dup2(saved, 2)
        os.close(saved)


def _flush_c_stdio():
    import ctypes

    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to flush (not on glibc/musl)
        pass


_DIVERTED = False


def divert_native_stderr() -> None:
    """For the CLI: Python's stderr keeps the terminal, native code's fd 2 goes to /dev/null.

    TensorFlow and LiteRT log from C++ at start-up, on accelerator registration and
    at exit, through buffers that flush at odd moments; a command's own messages
    are Python's. `mexit --debug` or MEXIT_SHOW_TF_LOGS=1 keep everything.
    """
    global _DIVERTED
    if os.environ.get("MEXIT_SHOW_TF_LOGS") or _DIVERTED:
        return
    _DIVERTED = True
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1, errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
