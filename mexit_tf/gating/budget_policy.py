import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy, check_thresholds, register_policy


@register_policy("budget")
class BudgetPolicy(ExitPolicy):
    """Anytime inference: answer at the deepest exit whose cumulative cost fits the budget.

    `stage_costs` are per-stage costs (measured latency in ms, or MACs) in
    order; the first exit always answers, even over budget.
    JSON: `{"type": "budget", "budget": 3.0, "stage_costs": [...], "unit": "ms"}`.
    """

    tasks = ("classification", "regression")

    def __init__(self, budget: float, stage_costs, unit: str = "ms"):
        costs = check_thresholds(list(stage_costs) if stage_costs is not None else None,
                                 len(stage_costs or []), 0.0, float("inf"), "stage_costs")
        if not costs:
            raise MexitError("stage_costs must list at least one stage.")
        (self.budget,) = check_thresholds([budget], 1, 0.0, float("inf"), "budget")
        self.stage_costs, self.unit, self.num_exits = costs, unit, len(costs)
        cumulative = np.cumsum(costs)
        self.deepest = max(0, int(np.searchsorted(cumulative, self.budget, side="right")) - 1)

    def accepts(self, outputs, index):
        return np.full(len(outputs[index]), index >= self.deepest)

    def to_dict(self):
        return {"type": "budget", "budget": self.budget, "stage_costs": self.stage_costs,
                "unit": self.unit}

    @classmethod
    def from_dict(cls, data):
        return cls(data.get("budget"), data.get("stage_costs"), data.get("unit", "ms"))
