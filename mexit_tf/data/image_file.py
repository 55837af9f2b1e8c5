"""One image file -> uint8 pixels of a given size and channel count, every change named."""

from pathlib import Path

import numpy as np

from mexit_tf.errors import MexitError

# How every reader of a bundle resizes an image (manifest `input.resize`): Python here, the
# Kotlin core's `PixelRules.resizeBilinear` for mexit-jvm and the app, bit for bit.
RESIZE_RULE = "bilinear-half-pixel"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
# PIL modes of one channel: 1-bit, 8-bit, 16-bit and 32-bit integer greyscale.
GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def image_header(path) -> tuple[tuple[int, int], str]:
    """`((width, height), PIL mode)` from the file's header, without decoding pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size, image.mode
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise MexitError(f"{path}: cannot decode as an image ({_reason(error)}).") from None


def read_image_file(path, size: tuple[int, int] | None = None, channels: int | None = None):
    """Returns `(pixels, changes)`: uint8 `(H, W, C)` pixels and what was done to them.

    `size` is `(H, W)`; `channels` 1 (greyscale) or 3 (RGB); None keeps the file's.
    16-bit and 32-bit greyscale are scaled to 8 bits by their full range (PIL's own
    conversion would clip them to white); an alpha channel is dropped; palette,
    CMYK and other modes are converted. A file that does not decode is named.
    """
    from PIL import Image, UnidentifiedImageError

    changes = []
    try:
        with Image.open(path) as image:
            image.load()
            image = _to_8_bit(image, changes)
            want = image.mode if channels is None else ("L" if channels == 1 else "RGB")
            if want not in ("L", "RGB"):
                want = "L" if image.mode in GREY_MODES else "RGB"
            if image.mode != want:
                changes.append(f"converted {image.mode} to {want}")
                image = image.convert(want)
            pixels = np.asarray(image, dtype=np.uint8)
            if size is not None and pixels.shape[:2] != tuple(size):
                changes.append(f"resized {image.size[0]}x{image.size[1]} to {size[1]}x{size[0]}")
                pixels = resize_bilinear(pixels, size)
    # A decompression bomb (more pixels than PIL decodes) is refused like any bad file.
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as error:
        raise MexitError(f"{path}: cannot decode as an image ({_reason(error)}).") from None
    return pixels.reshape(*pixels.shape[:2], -1), changes


def resize_bilinear(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 `(H, W[, C])` -> `size` `(H', W')`: bilinear with half-pixel centres, no
    antialiasing, rounded half up. One rule, written out rather than taken from a
    library, so Python, the JVM runner and the app resize the same image to the same
    bytes (the model then sees what it was trained and calibrated on).

    Example:
    >>> resize_bilinear(np.array([[0, 255]], np.uint8), (1, 4)).tolist()
    [[0, 64, 191, 255]]
    """
    height, width = pixels.shape[:2]

    def taps(out, size_in):
        # Kotlin's PixelRules computes the same expressions, in the same order.
        centre = np.clip((np.arange(out) + 0.5) * size_in / out - 0.5, 0.0, size_in - 1.0)
        low = np.floor(centre).astype(np.int64)
        return low, np.minimum(low + 1, size_in - 1), centre - low

    y0, y1, fy = taps(size[0], height)
    x0, x1, fx = taps(size[1], width)
    values = pixels.astype(np.float64)
    if values.ndim == 2:
        values = values[..., None]
    fx, fy = fx[None, :, None], fy[:, None, None]
    top = values[y0][:, x0] + (values[y0][:, x1] - values[y0][:, x0]) * fx
    bottom = values[y1][:, x0] + (values[y1][:, x1] - values[y1][:, x0]) * fx
    out = np.floor(top + (bottom - top) * fy + 0.5).astype(np.uint8)
    return out.reshape(*size, *pixels.shape[2:])


def _to_8_bit(image, changes):
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image).astype(np.float64)
        # 16-bit files hold 0..65535; 32-bit integer and float images are scaled from
        # their type's range only when they exceed 8 bits' (some tools store 8-bit
        # values in wider types).
        top = 65535.0 if image.mode.startswith("I;16") else (
            65535.0 if values.max(initial=0) > 255 else 255.0)
        if top != 255.0:
            changes.append(f"scaled {image.mode} ({'16' if top == 65535 else '32'}-bit) "
                           "to 8-bit")
        return Image.fromarray(np.clip(np.round(values * 255.0 / top), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA"):
        changes.append(f"dropped the alpha channel of {image.mode}")
        return image.convert("RGB" if image.mode != "LA" else "L")
    return image


def _reason(error) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text.replace(str(Path.cwd()) + "/", "")[:160]
