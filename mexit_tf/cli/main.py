"""The `mexit` command: one module per subcommand, errors mapped here to one line."""

import argparse
import os
import sys

from mexit_tf.errors import MexitError

SUBCOMMANDS = ("train", "qat", "export", "calibrate", "eval", "predict", "bench", "quickstart")
# These run bundles on LiteRT alone: no Keras or TensorFlow (`pip install "mexit_tf[runtime]"`).
RUNTIME_COMMANDS = ("eval", "predict", "bench", "calibrate")
# What the full install (`[train]`) adds; a command that needs one says so on one line.
TRAINING_MODULES = {"keras", "tensorflow", "keras_hub", "matplotlib", "tf_keras", "jax"}


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line (no usage block) and exits 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from mexit_tf import __version__

    parser = OneLineErrorParser(
        prog="mexit", description="Multi-exit Vision Transformers: train, export, run.")
    parser.add_argument("--version", action="version", version=f"mexit_tf {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks instead of one-line errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    import importlib

    for name in SUBCOMMANDS:
        importlib.import_module(f"mexit_tf.cli.{name}").add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF's C++ start-up chatter
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version or a bad flag (already said)
        return int(stop.code or 0)
    try:
        from mexit_tf.native_stderr import divert_native_stderr

        if argv is None and not args.debug:  # a command-line run, not a call from Python
            divert_native_stderr()
        if args.command not in RUNTIME_COMMANDS:
            import mexit_tf

            mexit_tf._import_keras_quietly()
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("mexit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`mexit predict … | head`): stop quietly, as Unix tools do.
        # Python would complain again when it flushes stdout at exit: point it elsewhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except ModuleNotFoundError as error:
        if args.debug or (error.name or "").partition(".")[0] not in TRAINING_MODULES:
            raise
        print(f"mexit {args.command}: error: this command needs {error.name}, which the "
              f"runtime-only install leaves out; install the toolkit with "
              f"pip install \"mexit_tf[train]\" (or bash scripts/setup train).",
              file=sys.stderr)
        return 2
    except (MexitError, FileNotFoundError, FileExistsError, IsADirectoryError,
            NotADirectoryError, PermissionError) as error:
        if args.debug:
            raise
        message = str(error) if isinstance(error, MexitError) else (
            f"{error.strerror}: {error.filename}")
        print(f"mexit {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
