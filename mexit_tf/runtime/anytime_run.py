import threading
import time

STOPPED_BY = ("policy", "deadline", "last_stage", "interrupted")


class AnytimeRun:
    """One input's way through the stages, stoppable between any two of them.

    `step()` runs the next stage, when it may: stage 0 always (there is no
    answer without it); stage k+1 only if, with a deadline, the time so far plus
    the latency model's predictions for stage k+1 and for building the answer
    fit in it (asked first), and the policy has not accepted stage k's exit. `stop()`
    (from any thread, e.g. a timer) ends the run before the next stage;
    `best()` (from any thread) is the deepest exit computed so far. `run()`
    steps to the end and returns the answer.

    Time is counted in steps that tile the run: step k lasts from the end of
    step k-1 (for stage 0: from when it begins) to the end of stage k, so the
    model learns everything the run spends, our own Python included; preparing
    the input before stage 0, and deciding and building the answer after the
    last step, are timed and learned apart. The deadline counts from the start.

    `run_stage(k)` runs stage k and returns its logits; `clock()` is an integer
    nanosecond clock (injected in tests); `make_result(index, output, stage_ms,
    stopped_by)` builds the answer, and `annotate(answer, run)`, when given,
    fills in what is known only after it was built (`elapsed_ns`,
    `deadline_met`). The Kotlin core's `AnytimeRun` has the same semantics.

    Example:
    >>> run = cascade.start(image, deadline_ms=30)
    >>> threading.Timer(0.025, run.stop).start()   # or any other thread
    >>> result = run.run()                          # result.stopped_by == "interrupted"?
    """

    def __init__(self, run_stage, num_stages: int, policy, make_result, deadline_ns=None,
                 latency_model=None, clock=time.perf_counter_ns, started_ns=None,
                 run_to_end: bool = False, annotate=None, on_end=None):
        if deadline_ns is not None and latency_model is None:
            raise ValueError("a deadline needs a latency model to predict the next stage")
        self._run_stage, self._num_stages, self._policy = run_stage, num_stages, policy
        self._make_result, self._annotate, self._on_end = make_result, annotate, on_end
        self._clock, self._model = clock, latency_model
        self.deadline_ns, self.run_to_end = deadline_ns, run_to_end
        self.started_ns = clock() if started_ns is None else started_ns
        self._last_ns = self.started_ns
        self.outputs, self.stage_ms = [], []
        self.stopped_by = None
        self.elapsed_ns = None
        self._answer = None
        self._interrupted = threading.Event()
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self.stopped_by is not None

    @property
    def deadline_met(self) -> bool | None:
        """Whether the answer was ready within the deadline (None without one, or before
        the answer was built)."""
        if self.deadline_ns is None or self.elapsed_ns is None:
            return None
        return self.elapsed_ns <= self.deadline_ns

    def stop(self) -> None:
        """Ends the run before its next stage (a stage already running finishes)."""
        self._interrupted.set()

    def step(self) -> bool:
        """Runs the next stage if it may; returns whether the run goes on."""
        if self.done:
            return False
        try:
            return self._step()
        except BaseException:
            self._end()
            raise

    def _step(self) -> bool:
        index = len(self.outputs)
        if index > 0 and self._interrupted.is_set():
            return self._finish("interrupted")
        begun = self._clock()
        if index == 0:
            # Preparing the input (from `started_ns` to here) is learned apart: it is not
            # stage 0's work, and a slow spell in it must not look like slow stages.
            if self._model is not None:
                self._model.observe_prepare(begun - self.started_ns)
            self._last_ns = begun
        logits = self._run_stage(index)
        with self._lock:
            self.outputs.append(logits)
            self.stage_ms.append((self._clock() - begun) / 1e6)
        # Step k ends here and is learned at once, so the check below already knows it;
        # the decisions after this point belong to the next step, or to the answer.
        ended = self._clock()
        if self._model is not None:
            self._model.observe(index, ended - self._last_ns)
        self._last_ns = ended
        if index == self._num_stages - 1:
            return self._finish("last_stage")
        # The deadline is asked first: when the next stage cannot fit, the policy's
        # verdict changes nothing, and skipping it saves the time it would cost.
        if self.deadline_ns is not None and ended - self.started_ns + \
                self._model.predict_ns(index + 1) + self._model.predict_finish_ns() > \
                self.deadline_ns:
            return self._finish("deadline")
        if not self.run_to_end and self._policy.should_stop(self.outputs):
            return self._finish("policy")
        if self._interrupted.is_set():
            return self._finish("interrupted")
        return True

    def _finish(self, reason: str) -> bool:
        self.stopped_by = reason
        self._end()
        return False

    def _end(self) -> None:
        if self._on_end is not None:
            self._on_end()

    def run(self):
        """Steps until the run ends; returns the answer (`result()`)."""
        while self.step():
            pass
        return self.result()

    def result(self):
        """The answer of a finished run, built once; its building is timed and learned."""
        if not self.done:
            raise RuntimeError("the run has not ended; call run() or step() first")
        if self._answer is None:
            answer = self._make_result(len(self.outputs) - 1, self.outputs[-1], self.stage_ms,
                                       self.stopped_by)
            finished = self._clock()
            self.elapsed_ns = finished - self.started_ns
            if self._model is not None:
                self._model.observe_finish(finished - self._last_ns)
            if self._annotate is not None:
                self._annotate(answer, self)
            self._answer = answer
        return self._answer

    def best(self):
        """The deepest exit computed so far, as `(index, logits)`, or None before stage 0
        has finished. Safe to call from another thread while the run goes on."""
        with self._lock:
            return (len(self.outputs) - 1, self.outputs[-1]) if self.outputs else None
