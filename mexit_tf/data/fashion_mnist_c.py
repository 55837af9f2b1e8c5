"""Fashion-MNIST-C: Fashion-MNIST with one graded corruption per image (NumPy only)."""

import numpy as np

from mexit_tf.data.corruptions import FAMILIES, SEVERITIES, corrupt
from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.data.fashion_mnist import load_fashion_mnist
from mexit_tf.errors import MexitError

CLEAN = "none"  # the family recorded for images left clean (severity 0)
MIX = ("a third of each split clean (severity 0); the rest spread evenly over the "
       f"{len(FAMILIES)} families x severities 1-5, in a seeded random order")


def assign_corruptions(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`(family, severity)` for `count` images: exactly `count // 3` clean, the rest dealt
    round-robin over every (family, severity 1-5) pair, then shuffled.

    Dealt rather than drawn, so every cell of a breakdown holds as many examples as
    the split allows (a draw would leave some a few dozen short on the test split).
    """
    clean = count // 3
    cells = np.arange(count - clean) % (5 * len(FAMILIES))
    family = np.concatenate([np.full(clean, CLEAN), np.array(FAMILIES)[cells % len(FAMILIES)]])
    severity = np.concatenate([np.zeros(clean, np.int8),
                               (cells // len(FAMILIES) + 1).astype(np.int8)])
    order = rng.permutation(count)
    return family[order], severity[order]


def corrupt_split(images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """`images` (n, h, w, 1) uint8 with corruptions assigned and applied from `rng`; returns
    the corrupted copy and `{"family": ..., "severity": ...}`, one value per image.

    Clutter takes its pieces from the clean images of the same split.
    """
    family, severity = assign_corruptions(len(images), rng)
    clean = images[..., 0].astype(np.float32) / 255.0
    out = images.copy()
    for name in FAMILIES:
        for level in range(1, 6):
            chosen = np.flatnonzero((family == name) & (severity == level))
            if chosen.size:
                corrupted = corrupt(clean[chosen], name, level, rng, pool=clean)
                out[chosen, ..., 0] = np.round(corrupted * 255.0).astype(np.uint8)
    return out, {"family": family, "severity": severity}


def load_fashion_mnist_c(validation_size: int = 5000, seed: int = 0,
                         corruption_seed: int | None = None) -> DatasetSplits:
    """Fashion-MNIST with graded corruptions, as MNIST-C and ImageNet-C.

    The splits of `load_fashion_mnist(validation_size, seed)` (the test split is
    Fashion-MNIST's, in its order), each image then left clean or corrupted by one
    family at severity 1-5: a third clean, the rest spread evenly over the families
    (gaussian and shot noise, motion and defocus blur, contrast, occlusion, clutter,
    affine) and severities. Each split is corrupted from its own generator, seeded with
    `corruption_seed` (default: `seed`), so the same seed gives the same bytes.
    `per_example[split]` holds each image's `family` ("none" when clean) and `severity`.

    Example:
    >>> data = load_fashion_mnist_c()
    >>> data.per_example["test"]["severity"][:5], data.x_test.shape
    (array([...], dtype=int8), (10000, 28, 28, 1))
    """
    if corruption_seed is None:
        corruption_seed = seed
    if isinstance(corruption_seed, bool) or not isinstance(corruption_seed, int) or (
            corruption_seed < 0):
        raise MexitError(f"corruption_seed must be a whole number >= 0; received "
                         f"{corruption_seed!r}.")
    data = load_fashion_mnist(validation_size, seed)
    corrupted, per_example = {}, {}
    for index, (split, images) in enumerate((("train", data.x_train),
                                             ("validation", data.x_val),
                                             ("test", data.x_test))):
        rng = np.random.default_rng([corruption_seed, index])
        corrupted[split], per_example[split] = corrupt_split(images, rng)
    record = {**data.record, "kind": "fashion_mnist_c", "corruption_seed": corruption_seed,
              "corruptions": {"mix": MIX, "families": list(FAMILIES),
                              "severities": {name: [list(v) if isinstance(v, tuple) else v
                                                    for v in levels]
                                             for name, levels in SEVERITIES.items()}}}
    return DatasetSplits(corrupted["train"], data.y_train, corrupted["validation"], data.y_val,
                         corrupted["test"], data.y_test, data.class_names,
                         f"{data.source}, corrupted (fashion_mnist_c, seed {corruption_seed})",
                         record, data.notes, per_example)
