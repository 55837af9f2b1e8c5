"""argparse types that check a flag's value and repeat what was received when it is bad."""

import argparse
import math


def positive_int(text: str) -> int:
    """An integer >= 1 (`--runs`, `--limit`, `--epochs`, `--threads`, `--batch-size`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; received {text!r}") \
            from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; received {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (`--lr`, `--budget-ms`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0; received {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; received {text!r}")
    return value


def positive_floats(text: str) -> list[float]:
    """`D` or `D1,D2,...`, each a finite number > 0 (`--deadline-ms`)."""
    values = []
    for part in text.split(","):
        try:
            values.append(positive_float(part.strip()))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected numbers > 0 separated by commas; received {text!r}") from None
    return values


def image_size(text: str) -> tuple[int, int]:
    """`H,W` (or one number for a square), each >= 1."""
    parts = text.replace("x", ",").split(",")
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W (e.g. 64,64); received {text!r}") \
            from None
    if len(sizes) == 1:
        sizes = sizes * 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected H,W with both >= 1; received {text!r}")
    return sizes


def exit_blocks(text: str) -> dict:
    """`2,4` (mlp_ee heads) or `2:sl_vit,4:mlp_ee`: the `exits` of a config."""
    exits = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        block, _, head = item.partition(":")
        try:
            exits[int(block)] = head or "mlp_ee"
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected blocks like 2,4 or 2:sl_vit,4:mlp_ee; received {text!r}") from None
    if not exits:
        raise argparse.ArgumentTypeError(f"expected at least one exit block; received {text!r}")
    return exits
