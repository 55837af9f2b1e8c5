import math

import numpy as np

from mexit_tf.errors import MexitError

POLICY_TYPES: dict[str, type] = {}


def register_policy(name):
    def register(cls):
        cls.policy_type = name
        POLICY_TYPES[name] = cls
        return cls

    return register


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(-1, keepdims=True)


class ExitPolicy:
    """Decides, per input, at which exit of K a cascade stops.

    `select_exits(outputs)` takes every exit's outputs (a list of K arrays of
    shape (N, C), shallowest first) and returns, per input, the index of the
    first exit whose answer is accepted; the last exit always answers. The
    runtime calls `should_stop(outputs_so_far)` after each stage, with the same
    semantics (the Kotlin core mirrors both). JSON: `to_dict` / `from_dict`.
    """

    policy_type = None
    tasks = ("classification",)  # the kinds of model whose outputs it can judge

    def should_stop(self, outputs_so_far: list[np.ndarray]) -> bool:
        """True when the newest exit's answer is accepted (batch of one)."""
        depth = len(outputs_so_far)
        return depth == self.num_exits or bool(self.accepts(outputs_so_far, depth - 1)[0])

    def accepts(self, outputs: list[np.ndarray], index: int) -> np.ndarray:
        """Boolean (N,): does exit `index` accept, given exits 0..index?"""
        raise NotImplementedError

    def select_exits(self, outputs: list[np.ndarray]) -> np.ndarray:
        if len(outputs) != self.num_exits:
            raise MexitError(f"Policy expects outputs of {self.num_exits} exits; "
                             f"received {len(outputs)}.")
        count = len(outputs[0])
        chosen = np.full(count, self.num_exits - 1)
        undecided = np.ones(count, bool)
        for index in range(self.num_exits - 1):
            stop = undecided & self.accepts(outputs, index)
            chosen[stop] = index
            undecided &= ~stop
        return chosen

    def to_dict(self) -> dict:
        raise NotImplementedError

    @staticmethod
    def from_dict(data) -> "ExitPolicy":
        if not isinstance(data, dict) or data.get("type") not in POLICY_TYPES:
            kind = data.get("type") if isinstance(data, dict) else type(data).__name__
            raise MexitError(f"Unknown policy type {kind!r}; known: "
                             f"{', '.join(sorted(POLICY_TYPES))}.")
        return POLICY_TYPES[data["type"]].from_dict(data)


def check_thresholds(values, count: int, low: float, high: float, what: str) -> list[float]:
    """Validates a threshold list: right length, finite numbers within [low, high]."""
    if not isinstance(values, list | tuple):
        raise MexitError(f"{what} must be a list of {count} numbers; received {values!r}.")
    if len(values) != count:
        raise MexitError(f"{what} needs {count} values (one per early exit); "
                         f"received {len(values)}.")
    checked = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
                or not low <= value <= high:
            raise MexitError(f"{what} must be numbers in [{low}, {high}]; received {value!r}.")
        checked.append(float(value))
    return checked
