import keras


def build_augmentation(flip: bool = True, translate: float = 0.0, rotate: float = 0.0,
                       zoom: float = 0.0, seed: int = 0) -> keras.Sequential | None:
    """Image augmentation from Keras core layers (keras-cv is deprecated).

    Returns None when every option is off. Values are fractions as in the
    Keras layers (`translate=0.1` shifts up to 10% of the side).
    """
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if translate:
        layers.append(keras.layers.RandomTranslation(translate, translate, fill_mode="constant",
                                                     seed=seed))
    if rotate:
        layers.append(keras.layers.RandomRotation(rotate, fill_mode="constant", seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="constant", seed=seed))
    return keras.Sequential(layers, name="augmentation") if layers else None
