import bisect
import math
from collections import deque

from mexit_tf.errors import MexitError


def nearest_rank(ordered, quantile: float):
    """The `quantile` of an ascending sequence, nearest-rank (an observed value)."""
    return ordered[max(math.ceil(quantile * len(ordered)), 1) - 1]


class _Window:
    """The last `size` values, in arrival order and kept sorted: a quantile costs O(1) and
    an update O(log n) plus a short memmove, so deciding between stages stays cheap."""

    def __init__(self, size: int):
        self.size, self.arrived, self.ordered = size, deque(), []

    def add(self, value) -> None:
        self.arrived.append(value)
        bisect.insort(self.ordered, value)
        if len(self.arrived) > self.size:
            oldest = self.arrived.popleft()
            del self.ordered[bisect.bisect_left(self.ordered, oldest)]

    def quantile(self, q: float):
        return nearest_rank(self.ordered, q)

    def __len__(self) -> int:
        return len(self.arrived)


class LatencyModel:
    """Predicts how long the next stage would take, from this process's own measurements.

    What is predicted is a stage *step*: the stage's run plus what the cascade
    does after it (reading the logits, asking the policy), i.e. the time that
    running it adds to a request. Two parts:

    - each stage's typical step, its *baseline*: the median of its last `window`
      steps once it has run `min_runs` times here; before that, the manifest's
      latency (measured at export, perhaps on another machine, without the
      cascade's own work) scaled as stage 0's median step compares with its
      manifest latency, or the manifest's latency alone when stage 0 has not
      run enough either;
    - how much slower than typical the machine is right now: the `quantile`
      (nearest rank) of the last `window` ratios step / baseline, over every
      stage. Stage 0 runs on every request, so this stays current even for
      stages the deadline has kept from running (a per-stage tail would
      stay stuck at its worst value once the stage stops being run).

    prediction = baseline x slowdown x (1 + margin). The deadline study chose the
    defaults: quantile 0.99 (of 100 ratios, the second largest) and margin 0. At
    quantile 0.95 a bundle run as deep as the deadline allowed was late 2-4 points
    more often than stage 0 alone, nearly always after starting a stage on a
    borderline prediction. A margin of 0.25 made about half a point fewer answers
    late but, on a bundle whose deeper exits are the more accurate (every block
    `mlp_ee`), cost 1.3-2 points of accuracy at mid deadlines by stopping runs
    that would have fit. Building the answer after
    the last stage is learned apart (`observe_finish`): its `quantile` over the
    last `window` runs, times 1 + margin. The tail, not the mean,
    because a busy neighbour stretches a stage's p99 long before its median
    moves; the window forgets, so the model follows the machine when it slows
    down (other apps, thermal throttling) and when it recovers. Preparing the
    input before stage 0 is learned apart too (`observe_prepare`), so a slow
    spell in decoding or copying inputs never counts as a slow stage: it would
    inflate stage 0's baseline and the slowdown, and keep deep stages from
    being tried again for a window of requests. It still uses up the deadline.

    Times are integer nanoseconds; the Kotlin core's `LatencyModel` computes
    the same predictions from the same observations.

    Example:
    >>> model = LatencyModel([0.21, 0.20, 0.20])   # manifest ms per stage
    >>> model.observe(0, 420_000)                  # stage 0 took twice its baseline
    >>> model.predict_ns(1)                        # 0.20 ms x 2
    400000
    """

    def __init__(self, seed_ms, window: int = 100, quantile: float = 0.99,
                 margin: float = 0.0, min_runs: int = 5):
        if not seed_ms or any(not math.isfinite(ms) or ms <= 0 for ms in seed_ms):
            raise MexitError(f"Seed latencies must be finite and > 0 ms; received {seed_ms}.")
        if window < 1 or min_runs < 1 or not 0 < quantile <= 1 or not math.isfinite(margin) \
                or margin < 0:
            raise MexitError(f"LatencyModel needs window >= 1, min_runs >= 1, 0 < quantile "
                             f"<= 1 and margin >= 0; received {window}, {min_runs}, "
                             f"{quantile}, {margin}.")
        self.seed_ns = [max(int(ms * 1e6 + 0.5), 1) for ms in seed_ms]
        self.window, self.quantile, self.margin, self.min_runs = window, quantile, margin, min_runs
        self._steps = [_Window(window) for _ in seed_ms]
        self._ratios = _Window(window)
        self._finishes = _Window(window)
        self._prepares = _Window(window)

    @classmethod
    def from_manifest(cls, manifest: dict, **settings) -> "LatencyModel":
        """Seeded with a bundle's measured stage latencies (a stage measured at 0 ms counts
        as 1 us, so ratios stay finite)."""
        return cls([max(stage["cost"]["latency_ms"], 1e-3) for stage in manifest["stages"]],
                   **settings)

    def baseline_ns(self, stage: int) -> int:
        steps = self._steps[stage]
        if len(steps) >= self.min_runs:
            return steps.quantile(0.5)
        if stage > 0 and len(self._steps[0]) >= self.min_runs:
            return int(self.seed_ns[stage] * self.baseline_ns(0) / self.seed_ns[0])
        return self.seed_ns[stage]

    def slowdown(self) -> float:
        return self._ratios.quantile(self.quantile) if len(self._ratios) else 1.0

    def observe(self, stage: int, step_ns: int) -> None:
        self._ratios.add(int(step_ns) / self.baseline_ns(stage))
        self._steps[stage].add(int(step_ns))

    def predict_ns(self, stage: int) -> int:
        return int(self.baseline_ns(stage) * self.slowdown() * (1.0 + self.margin))

    def observe_finish(self, finish_ns: int) -> None:
        self._finishes.add(int(finish_ns))

    def predict_finish_ns(self) -> int:
        if not len(self._finishes):
            return 0
        return int(self._finishes.quantile(self.quantile) * (1.0 + self.margin))

    def observe_prepare(self, prepare_ns: int) -> None:
        self._prepares.add(int(prepare_ns))

    def predict_prepare_ns(self) -> int:
        """What preparing an input typically costs here (reported; decisions do not use it:
        when a run decides, its input is already prepared)."""
        if not len(self._prepares):
            return 0
        return int(self._prepares.quantile(self.quantile) * (1.0 + self.margin))

    def to_dict(self) -> dict:
        return {"window": self.window, "quantile": self.quantile, "margin": self.margin,
                "min_runs": self.min_runs, "slowdown": round(self.slowdown(), 4),
                "predicted_ms": [round(self.predict_ns(k) / 1e6, 4)
                                 for k in range(len(self.seed_ns))],
                "predicted_finish_ms": round(self.predict_finish_ns() / 1e6, 4),
                "predicted_prepare_ms": round(self.predict_prepare_ns() / 1e6, 4)}
