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

    @property
    def latency_ms(self) -> float:
        return float(sum(self.stage_latencies_ms))

    def to_dict(self) -> dict:
        return {"exit_index": self.exit_index, "exit": self.exit_name, "label": self.label,
                "confidence": self.confidence, "output": self.output.tolist(),
                "latency_ms": round(self.latency_ms, 4),
                "stage_latencies_ms": [round(v, 4) for v in self.stage_latencies_ms]}
