"""Counting canvases: k Fashion-MNIST items on a larger canvas, target k (a regression).

SYNTHETIC COMPOSITION of real images. With `placement="grid"` each canvas is
split into a grid of cells; k distinct cells (k uniform in 0..max_items) each
get one item, shrunk by half and jittered inside its cell, so items never
overlap and the count is exact. With `placement="random"` the k items land
anywhere on the canvas and may overlap (the brighter pixel wins), so some
canvases are ambiguous to the eye: counting them is harder. Canvases of a
split only use items of the same Fashion-MNIST split, so no test item is
seen in training.
"""

import numpy as np

from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.errors import MexitError

PLACEMENTS = ("grid", "random")


def make_counting_canvases(items: np.ndarray, count: int, max_items: int = 9,
                           canvas_size: int = 64, cells: int = 4, seed: int = 0,
                           placement: str = "grid"):
    """`(canvases (count, S, S, 1) uint8, counts (count,) float32)` from 28x28 `items`."""
    if placement not in PLACEMENTS:
        raise MexitError(f"placement must be one of {', '.join(PLACEMENTS)}; received "
                         f"{placement!r}.")
    items = np.asarray(items)
    if items.ndim == 4:
        items = items[..., 0]
    if items.ndim != 3 or len(items) == 0:
        raise MexitError(f"Items must be a non-empty stack of grayscale images; received "
                         f"shape {items.shape}.")
    cell = canvas_size // cells
    # Halve each item (2x2 mean): a 28x28 item becomes 14x14 and fits a 16 px cell.
    small = items[:, :items.shape[1] // 2 * 2, :items.shape[2] // 2 * 2].astype("float32")
    small = small.reshape(len(items), small.shape[1] // 2, 2, small.shape[2] // 2, 2).mean((2, 4))
    side = small.shape[1]
    if side > cell:
        raise MexitError(f"Items of {side} px (halved) do not fit cells of {cell} px; use a "
                         "larger canvas or fewer cells.")
    if not 0 <= max_items <= cells * cells:
        raise MexitError(f"max_items must be in 0..{cells * cells} for a {cells}x{cells} grid; "
                         f"received {max_items}.")
    rng = np.random.default_rng(seed)
    canvases = np.zeros((count, canvas_size, canvas_size), "float32")
    counts = rng.integers(0, max_items + 1, count)
    for index, k in enumerate(counts):
        if placement == "random":
            for top, left in rng.integers(0, canvas_size - side + 1, (k, 2)):
                window = canvases[index, top:top + side, left:left + side]
                np.maximum(window, small[rng.integers(len(small))], out=window)
            continue
        for slot in rng.choice(cells * cells, size=k, replace=False):
            row, col = divmod(int(slot), cells)
            dy, dx = rng.integers(0, cell - side + 1, 2)
            top, left = row * cell + dy, col * cell + dx
            canvases[index, top:top + side, left:left + side] = small[rng.integers(len(small))]
    return canvases.round().astype("uint8")[..., None], counts.astype("float32")


def counting_splits(data: DatasetSplits, train: int, validation: int, test: int,
                    max_items: int = 9, seed: int = 0, placement: str = "grid") -> DatasetSplits:
    """Canvases built from each split of `data` (train items for train canvases, etc.)."""
    made = [make_counting_canvases(x, n, max_items, seed=seed + offset, placement=placement)
            for offset, (x, n) in enumerate(((data.x_train, train), (data.x_val, validation),
                                             (data.x_test, test)))]
    return DatasetSplits(*made[0], *made[1], *made[2], class_names=[],
                         source=f"SYNTHETIC counting canvases (0..{max_items} items, "
                                f"{placement} placement) of "
                                f"{data.source}")
