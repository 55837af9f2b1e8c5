import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy, register_policy


@register_policy("patience")
class PatiencePolicy(ExitPolicy):
    """Stop at exit k once `patience` consecutive exits, ending at k, agree on the class.

    JSON: `{"type": "patience", "patience": 2, "num_exits": K}`.
    """

    def __init__(self, patience: int, num_exits: int):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise MexitError(f"patience must be an integer >= 1; received {patience!r}.")
        if isinstance(num_exits, bool) or not isinstance(num_exits, int) or num_exits < 1:
            raise MexitError(f"num_exits must be an integer >= 1; received {num_exits!r}.")
        self.patience = patience
        self.num_exits = num_exits

    def accepts(self, outputs, index):
        if index + 1 < self.patience:
            return np.zeros(len(outputs[index]), bool)
        answers = [np.asarray(outputs[i]).argmax(-1) for i in range(index - self.patience + 1,
                                                                    index + 1)]
        return np.all([a == answers[-1] for a in answers], axis=0)

    def to_dict(self):
        return {"type": "patience", "patience": self.patience, "num_exits": self.num_exits}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("patience"), data.get("num_exits"))
