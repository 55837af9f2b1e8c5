import threading
import time

STOPPED_BY = ("policy", "deadline", "last_stage", "interrupted")


class AnytimeRun:
    """One input's way through the stages, stoppable between any two of them.

    `step()` runs the next stage, when it may: stage 0 always (there is no
    answer without it); stage k+1 only if the policy has not accepted stage k's
    exit and, with a deadline, if the latency model's prediction for it fits
    in the time left. `stop()` (from any thread, e.g. a timer) ends the run
    before the next stage; `best()` (from any thread) is the deepest exit
    computed so far. `run()` steps to the end and returns the outcome.

    `run_stage(k)` runs stage k and returns its logits (a row); `clock()` is an
    integer nanosecond clock (injected in tests); `make_result(index, output,
    stage_ms, stopped_by, deadline_met, elapsed_ms)` builds the answer.
    The Kotlin core's `AnytimeRun` has the same semantics.

    Example:
    >>> run = cascade.start(image, deadline_ms=30)
    >>> threading.Timer(0.025, run.stop).start()   # or any other thread
    >>> result = run.run()                          # result.stopped_by == "interrupted"?
    """

    def __init__(self, run_stage, num_stages: int, policy, make_result, deadline_ns=None,
                 latency_model=None, clock=time.perf_counter_ns, started_ns=None,
                 run_to_end: bool = False):
        if deadline_ns is not None and latency_model is None:
            raise ValueError("a deadline needs a latency model to predict the next stage")
        self._run_stage, self._num_stages, self._policy = run_stage, num_stages, policy
        self._make_result, self._clock, self._model = make_result, clock, latency_model
        self.deadline_ns, self.run_to_end = deadline_ns, run_to_end
        self.started_ns = clock() if started_ns is None else started_ns
        self.outputs, self.stage_ms = [], []
        self.stopped_by = None
        self._interrupted = threading.Event()
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self.stopped_by is not None

    def stop(self) -> None:
        """Ends the run before its next stage (a stage already running finishes)."""
        self._interrupted.set()

    def step(self) -> bool:
        """Runs the next stage if it may; returns whether the run goes on."""
        if self.done:
            return False
        index = len(self.outputs)
        if index > 0 and self._interrupted.is_set():
            return self._finish("interrupted")
        begun = self._clock()
        logits = self._run_stage(index)
        with self._lock:
            self.outputs.append(logits)
            self.stage_ms.append((self._clock() - begun) / 1e6)
        last = index == self._num_stages - 1
        accepted = not last and not self.run_to_end and self._policy.should_stop(self.outputs)
        ended = self._clock()
        if self._model is not None:
            self._model.observe(index, ended - begun)
        if last:
            return self._finish("last_stage")
        if accepted:
            return self._finish("policy")
        if self.deadline_ns is not None and \
                ended - self.started_ns + self._model.predict_ns(index + 1) > self.deadline_ns:
            return self._finish("deadline")
        if self._interrupted.is_set():
            return self._finish("interrupted")
        return True

    def _finish(self, reason: str) -> bool:
        self.elapsed_ns = self._clock() - self.started_ns
        self.stopped_by = reason
        return False

    def run(self):
        """Steps until the run ends; returns the answer (`make_result`)."""
        while self.step():
            pass
        return self.result()

    def result(self):
        """The answer of a finished run."""
        if not self.done:
            raise RuntimeError("the run has not ended; call run() or step() first")
        met = None if self.deadline_ns is None else self.elapsed_ns <= self.deadline_ns
        return self._make_result(len(self.outputs) - 1, self.outputs[-1], self.stage_ms,
                                 self.stopped_by, met, self.elapsed_ns / 1e6)

    def best(self):
        """The deepest exit computed so far, as `(index, logits)`, or None before stage 0
        has finished. Safe to call from another thread while the run goes on."""
        with self._lock:
            return (len(self.outputs) - 1, self.outputs[-1]) if self.outputs else None
