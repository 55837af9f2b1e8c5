from dataclasses import dataclass, field

import numpy as np


@dataclass
class CascadeResult:
    """What the cascade answered for one input, and what it cost."""

    exit_index: int
    exit_name: str
    output: np.ndarray
    stage_latencies_ms: list[float] = field(default_factory=list)
    label: str | None = None
    confidence: float | None = None
    # Why the run ended: "policy", "deadline", "last_stage" or "interrupted" (AnytimeRun.stop).
    stopped_by: str | None = None
    # With a deadline: whether the answer came within it; `elapsed_ms` is the whole call's time.
    deadline_met: bool | None = None
    elapsed_ms: float | None = None

    @property
    def latency_ms(self) -> float:
        return float(sum(self.stage_latencies_ms))

    def to_dict(self) -> dict:
        return {"exit_index": self.exit_index, "exit": self.exit_name, "label": self.label,
                "confidence": self.confidence, "output": self.output.tolist(),
                "latency_ms": round(self.latency_ms, 4),
                "stage_latencies_ms": [round(v, 4) for v in self.stage_latencies_ms],
                "stopped_by": self.stopped_by, "deadline_met": self.deadline_met,
                "elapsed_ms": None if self.elapsed_ms is None else round(self.elapsed_ms, 4)}
