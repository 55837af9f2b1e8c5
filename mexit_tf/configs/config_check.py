"""Checks a training config's values before any data is read or a model built."""

import math

from mexit_tf.errors import MexitError

MAX_TOKENS = 1024  # patches per image; beyond this attention's memory grows past a CPU's


def check_config(config: dict) -> dict:
    """Raises MexitError naming the first bad value (`epochs`, `batch_size`,
    `learning_rate`, `image_size`, `color_mode`, `seed`); returns `config`."""
    for key in ("epochs", "batch_size"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MexitError(f"{key} must be a whole number >= 1; received {value!r}.")
    for key in ("copycat_epochs", "seed"):
        value = config.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise MexitError(f"{key} must be a whole number >= 0; received {value!r}.")
    rate = config.get("learning_rate")
    if (isinstance(rate, bool) or not isinstance(rate, int | float)
            or not math.isfinite(rate) or rate <= 0):
        raise MexitError(f"learning_rate must be a number > 0; received {rate!r}.")
    size = config.get("image_size")
    if size is not None:
        if (not isinstance(size, list | tuple) or len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1
                           for s in size)):
            raise MexitError(f"image_size must be (height, width) in pixels; received {size!r}.")
    if config.get("color_mode") not in (None, "rgb", "grayscale"):
        raise MexitError(f"color_mode must be 'rgb' or 'grayscale'; received "
                         f"{config.get('color_mode')!r}.")
    # The finetune recipe's own settings (absent from other presets).
    for key, low, high, rule in (("head_epochs", 0, math.inf, "a whole number >= 0"),
                                 ("head_learning_rate", 0, math.inf, "a number > 0"),
                                 ("layer_decay", 0, 1, "a number in (0, 1]")):
        value = config.get(key, 1)
        whole = key != "head_epochs" or isinstance(value, int)
        if (isinstance(value, bool) or not isinstance(value, int | float) or not whole
                or not math.isfinite(value) or not (low <= value <= high)
                or (key != "head_epochs" and value == low)):
            raise MexitError(f"{key} must be {rule}; received {value!r}.")
    if config.get("exits") is None and config.get("pretrained"):
        return config  # chosen once the pretrained backbone's depth is known
    if not isinstance(config.get("exits"), dict) or not config["exits"]:
        raise MexitError(f"exits must be a dict {{block: head}}; received "
                         f"{config.get('exits')!r}.")
    return config


def check_image_size(image_size, patch_size) -> None:
    """The image must hold at least one patch, a whole number of them, and not too many."""
    height, width = image_size
    patch_h, patch_w = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    if height < patch_h or width < patch_w or height % patch_h or width % patch_w:
        raise MexitError(f"Image size {height}x{width} must be a multiple of the ViT's patch "
                         f"size {patch_h}x{patch_w} (and at least one patch); pass --image-size "
                         "accordingly.")
    tokens = (height // patch_h) * (width // patch_w)
    if tokens > MAX_TOKENS:
        raise MexitError(f"Image size {height}x{width} with {patch_h}x{patch_w} patches makes "
                         f"{tokens} tokens per image (at most {MAX_TOKENS}); pass a smaller "
                         "--image-size or a ViT with larger patches (--vit Ti/16).")
