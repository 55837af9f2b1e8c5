import numpy as np

from mexit_tf.errors import MexitError


def split_off(x, y, count: int, seed: int):
    """Splits `count` random examples off `(x, y)`: returns `(x_rest, y_rest, x_cut, y_cut)`.

    Used to carve a validation split out of the training data, so that the
    test split is never seen by training or calibration.
    """
    if not 0 < count < len(x):
        raise MexitError(f"Cannot split {count} examples off a set of {len(x)}.")
    order = np.random.default_rng(seed).permutation(len(x))
    cut, rest = order[:count], order[count:]
    return x[rest], y[rest], x[cut], y[cut]
