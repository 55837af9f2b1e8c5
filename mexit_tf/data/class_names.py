"""Labels by name: data and model must agree on class names, never on folder order."""

import numpy as np

from mexit_tf.errors import MexitError


def match_class_names(data_names, model_names, allow_subset: bool = False,
                      what: str = "model") -> np.ndarray:
    """Returns `remap` with `remap[data_label] == model_label`, matched by name.

    Refuses, naming the differences, when the data has a class the model lacks,
    or (unless `allow_subset`) lacks one of the model's classes.

    Example:
    >>> match_class_names(["cat", "ant"], ["ant", "bee", "cat"], allow_subset=True)
    array([2, 0])
    """
    data_names, model_names = list(data_names), list(model_names)
    unknown = [name for name in data_names if name not in model_names]
    missing = [name for name in model_names if name not in data_names]
    if unknown or (missing and not allow_subset):
        parts = []
        if unknown:
            parts.append(f"not among the {what}'s labels: {_listed(unknown)}")
        if missing and not allow_subset:
            parts.append(f"missing from the data: {_listed(missing)}")
        raise MexitError(f"The data's classes differ from the {what}'s "
                         f"({len(data_names)} vs {len(model_names)}): " + "; ".join(parts)
                         + f". The {what}'s labels are {_listed(model_names)}.")
    return np.array([model_names.index(name) for name in data_names], dtype="int32")


def _listed(names, limit=8) -> str:
    shown = ", ".join(map(str, names[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
