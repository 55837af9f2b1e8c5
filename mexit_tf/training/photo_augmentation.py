"""Augmentation for fine-tuning on photos: random resized crop and flip, Keras core only."""

import keras

from mexit_tf.data.augmentation import build_augmentation
from mexit_tf.errors import MexitError


def build_photo_augmentation(crop: float = 0.0, seed: int = 0,
                             **options) -> keras.Sequential | None:
    """`build_augmentation(**options)` with a random resized crop in front.

    Keras core has no `RandomResizedCrop` (keras-cv's is deprecated), so the
    crop is built from core layers: zoom in by up to `crop` of each side
    (height and width drawn apart, so the aspect ratio varies too), then shift
    the window by up to half the zoomed-away margin, i.e. a crop of
    `(1 - crop)..1` of the side at a random place, resized back to the input
    size. `crop=0` leaves it out, so presets without it are unchanged.

    Example:
    >>> augment = build_photo_augmentation(crop=0.3, flip=True)
    >>> augment(keras.ops.zeros((2, 32, 32, 3)), training=True).shape
    (2, 32, 32, 3)
    """
    rest = build_augmentation(**options, seed=seed)
    layers = list(rest.layers) if rest is not None else []
    if crop:
        if not 0.0 < crop < 1.0:
            raise MexitError(f"augment.crop must be in (0, 1); received {crop!r}.")
        layers[:0] = [keras.layers.RandomZoom((-crop, 0.0), (-crop, 0.0), fill_mode="reflect",
                                              seed=seed),
                      keras.layers.RandomTranslation(crop / 2, crop / 2, fill_mode="reflect",
                                                     seed=seed + 1)]
    return keras.Sequential(layers, name="augmentation") if layers else None
