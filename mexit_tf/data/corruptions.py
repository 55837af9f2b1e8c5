"""Graded corruptions of small greyscale images, after MNIST-C and ImageNet-C (NumPy only).

`corrupt(images, family, severity, rng, pool)` takes float32 images in [0, 1] of shape
(n, h, w) and corrupts all of them with one family at one severity (1-5), drawing the
per-image randomness (noise, angles, positions) from `rng`; `pool` is the split the
images come from, which `clutter` takes its pieces from. Every family is vectorised
over the batch, so a split of 60,000 images takes seconds.

Severities are tuned on Fashion-MNIST with the model trained on the corrupted data
(benchmarks/corruption_depth.py): accuracy falls with each step, and severity 5 is
hard but still recognisable to a person.
"""

import numpy as np

from mexit_tf.errors import MexitError

# One row per family: the parameter at severities 1..5.
SEVERITIES = {
    "gaussian_noise": [0.1, 0.2, 0.3, 0.42, 0.56],          # noise std (pixels in [0, 1])
    "shot_noise": [20.0, 8.0, 4.0, 2.0, 1.0],               # photons at full white
    "motion_blur": [4, 7, 10, 13, 16],                      # streak length (px)
    "defocus_blur": [1.0, 1.5, 2.25, 3.0, 4.0],             # disk radius (px)
    "contrast": [0.4, 0.25, 0.15, 0.09, 0.05],              # contrast kept
    "occlusion": [(1, 7), (2, 8), (3, 9), (4, 10), (5, 11)],  # (blocks, side px)
    "clutter": [(1, 10), (2, 11), (3, 12), (4, 13), (5, 14)],  # (pieces, side px)
    "affine": [0.2, 0.4, 0.6, 0.8, 1.0],                    # share of the largest warp
}
FAMILIES = tuple(SEVERITIES)
# The largest affine warp (severity 5): rotation (degrees), shear, zoom, shift (px).
AFFINE_LIMITS = {"rotation": 40.0, "shear": 0.4, "zoom": 0.3, "shift": 4.0}


def corrupt(images: np.ndarray, family: str, severity: int, rng: np.random.Generator,
            pool: np.ndarray | None = None) -> np.ndarray:
    """`images` (n, h, w) float in [0, 1], corrupted by `family` at `severity` 1-5.

    Example:
    >>> x = np.zeros((2, 28, 28), np.float32)
    >>> corrupt(x, "gaussian_noise", 3, np.random.default_rng(0)).shape
    (2, 28, 28)
    """
    if family not in SEVERITIES:
        raise MexitError(f"Unknown corruption {family!r}; use one of {', '.join(FAMILIES)}.")
    if not 1 <= severity <= 5:
        raise MexitError(f"Corruption severity must be 1-5; received {severity!r}.")
    level = SEVERITIES[family][severity - 1]
    images = np.asarray(images, np.float32)
    if family == "clutter":
        return np.clip(_clutter(images, *level, rng, images if pool is None else pool), 0, 1)
    return np.clip(_FUNCTIONS[family](images, level, rng), 0, 1)


def _gaussian_noise(x, std, rng):
    return x + rng.normal(0, std, x.shape).astype(np.float32)


def _shot_noise(x, photons, rng):
    return rng.poisson(x * photons).astype(np.float32) / photons


def _motion_blur(x, length, rng):
    # A streak at a random angle per image: the mean of `length` copies shifted along it,
    # computed as one convolution with each image's own kernel (the shifts splatted
    # bilinearly), which is far quicker than resampling every copy.
    n, h, w = x.shape
    angle = rng.uniform(0, np.pi, n)
    steps = np.linspace(-(length - 1) / 2, (length - 1) / 2, length)
    offsets = [-steps[None, :] * np.sin(angle)[:, None], -steps[None, :] * np.cos(angle)[:, None]]
    reach = int(np.ceil((length - 1) / 2)) + 1
    kernel = np.zeros((n, 2 * reach + 1, 2 * reach + 1))
    image = np.broadcast_to(np.arange(n)[:, None], (n, length))
    floor = [np.floor(o) for o in offsets]
    fraction = [o - f for o, f in zip(offsets, floor, strict=True)]
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        weight = ((fraction[0] if dr else 1 - fraction[0])
                  * (fraction[1] if dc else 1 - fraction[1])) / length
        np.add.at(kernel, (image, floor[0].astype(int) + dr + reach,
                           floor[1].astype(int) + dc + reach), weight)
    padded = np.pad(x, ((0, 0), (reach, reach), (reach, reach)))
    out = np.zeros_like(x)
    for i, j in zip(*np.nonzero(kernel.any(axis=0)), strict=True):
        out += kernel[:, i, j, None, None].astype(np.float32) * padded[:, i:i + h, j:j + w]
    return out


def _defocus_blur(x, radius, rng):
    # A disk with an anti-aliased rim, as ImageNet-C's defocus blur.
    reach = int(np.ceil(radius))
    offsets = np.arange(-reach, reach + 1)
    distance = np.hypot(*np.meshgrid(offsets, offsets, indexing="ij"))
    kernel = np.clip(radius + 0.5 - distance, 0, 1)
    kernel /= kernel.sum()
    padded = np.pad(x, ((0, 0), (reach, reach), (reach, reach)))
    h, w = x.shape[1:]
    out = np.zeros_like(x)
    for (i, j), weight in np.ndenumerate(kernel):
        if weight:
            out += weight * padded[:, i:i + h, j:j + w]
    return out


def _contrast(x, kept, rng):
    mean = x.mean(axis=(1, 2), keepdims=True)
    return (x - mean) * kept + mean


def _occlusion(x, level, rng):
    # Blocks of random grey at random places (each may fall partly outside the image).
    count, side = level
    n, h, w = x.shape
    rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    out = x.copy()
    for _ in range(count):
        top = rng.integers(-side // 2, h - side // 2, (n, 1, 1))
        left = rng.integers(-side // 2, w - side // 2, (n, 1, 1))
        grey = rng.uniform(0, 1, (n, 1, 1)).astype(np.float32)
        inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
        out = np.where(inside, grey, out)
    return out


def _clutter(x, count, side, rng, pool):
    # Square pieces cut from the middle of other items of the same split, laid over the
    # image at random places; the brighter pixel wins, as items lying on top of each other.
    n, h, w = x.shape
    rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    out = x.copy()
    for _ in range(count):
        other = pool[rng.integers(0, len(pool), n)]
        source_top = rng.integers(h // 4 - side // 2, h - h // 4 - side // 2 + 1, n)
        source_left = rng.integers(w // 4 - side // 2, w - w // 4 - side // 2 + 1, n)
        top = rng.integers(-side // 3, h - 2 * side // 3 + 1, n)
        left = rng.integers(-side // 3, w - 2 * side // 3 + 1, n)
        shift = np.stack([top - source_top, left - source_left], -1).astype(np.float32)
        moved = _warp(other, np.broadcast_to(np.eye(2, dtype=np.float32), (n, 2, 2)), shift)
        inside = ((rows >= top[:, None, None]) & (rows < top[:, None, None] + side)
                  & (cols >= left[:, None, None]) & (cols < left[:, None, None] + side))
        out = np.maximum(out, np.where(inside, moved, 0))
    return out


def _affine(x, share, rng):
    # Every image gets all four warps, each at `share` of its limit times a random
    # factor in [0.5, 1] and a random sign, so severity orders how far images move.
    n = len(x)

    def amount(limit):
        sign = rng.choice(np.array([-1.0, 1.0], np.float32), n)
        return sign * share * limit * rng.uniform(0.5, 1, n).astype(np.float32)

    angle = np.deg2rad(amount(AFFINE_LIMITS["rotation"]))
    shear = amount(AFFINE_LIMITS["shear"])
    zoom = 1 + amount(AFFINE_LIMITS["zoom"])
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    sheared = np.stack([np.stack([np.ones(n), shear], -1),
                        np.stack([np.zeros(n), np.ones(n)], -1)], -2)
    forward = rotate @ sheared * zoom[:, None, None]
    shift = np.stack([amount(AFFINE_LIMITS["shift"]), amount(AFFINE_LIMITS["shift"])], -1)
    # `_warp` maps output pixels to source pixels: the inverse of the forward warp.
    return _warp(x, np.linalg.inv(forward).astype(np.float32), shift)


def _warp(x, inverse, shift):
    """Each image resampled (bilinear, black outside) at `inverse @ (p - centre - shift) +
    centre` for every output pixel p: `inverse` (n, 2, 2), `shift` (n, 2) in (row, col)."""
    n, h, w = x.shape
    centre = ((h - 1) / 2, (w - 1) / 2)
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    offset = [rows.reshape(1, -1) - centre[0] - shift[:, :1],
              cols.reshape(1, -1) - centre[1] - shift[:, 1:]]
    source = [inverse[:, k, :1] * offset[0] + inverse[:, k, 1:] * offset[1] + centre[k]
              for k in (0, 1)]
    floor = [np.floor(s) for s in source]
    fraction = [s - f for s, f in zip(source, floor, strict=True)]
    flat = x.reshape(n, h * w)
    out = np.zeros((n, h * w), np.float32)
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        r, c = floor[0].astype(np.int64) + dr, floor[1].astype(np.int64) + dc
        weight = ((fraction[0] if dr else 1 - fraction[0])
                  * (fraction[1] if dc else 1 - fraction[1]))
        if not weight.any():  # whole-pixel shifts (clutter) need one corner of four
            continue
        valid = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        index = np.clip(r, 0, h - 1) * w + np.clip(c, 0, w - 1)
        out += np.where(valid, weight * np.take_along_axis(flat, index, 1), 0)
    return out.reshape(n, h, w)


_FUNCTIONS = {"gaussian_noise": _gaussian_noise, "shot_noise": _shot_noise,
              "motion_blur": _motion_blur, "defocus_blur": _defocus_blur,
              "contrast": _contrast, "occlusion": _occlusion, "affine": _affine}
