"""The Python runtime: run a bundle's stages in turn and stop where the policy says."""

import contextlib
import copy
import math
import threading
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mexit_tf.data.example_rows import example_at, example_count
from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy, softmax
from mexit_tf.runtime.anytime_run import AnytimeRun
from mexit_tf.runtime.cascade_result import CascadeResult
from mexit_tf.runtime.compiled_stage import CompiledStage
from mexit_tf.runtime.latency_model import LatencyModel
from mexit_tf.runtime.litert_stage import LiteRTStage
from mexit_tf.runtime.manifest import read_manifest, stage_file

ENGINES = {"compiled": CompiledStage, "interpreter": LiteRTStage}


class Cascade:
    """Loads a bundle (checking format version and every stage's sha256) and runs it.

    Example:
    >>> cascade = Cascade("bundle/")
    >>> result = cascade.predict(image)          # raw pixels, HWC
    >>> result.exit_name, result.label, result.latency_ms
    >>> report = cascade.evaluate(images, labels)  # per-sample exits, any N

    An audio-visual bundle takes `{"image": ..., "waveform": ...}` (one
    example, or arrays of N for `run_all`/`evaluate`); its audio branch runs
    only when an input reaches the first audio-visual exit.

    `engine="compiled"` (default) runs each stage on LiteRT's `CompiledModel`
    with one shared environment, handing each stage's output buffers to the
    next as they are; `engine="interpreter"` uses the LiteRT Interpreter (one
    copy of the tokens per stage), kept for comparison.

    Deadlines: `predict(x, deadline_ms=30)` runs the next stage only if the
    `latency_model`'s prediction for it fits in the time left, and otherwise
    answers with the deepest exit computed (`result.stopped_by`,
    `result.deadline_met`). The model starts from the manifest's latencies
    and follows every run of this cascade. `start(x, ...)` returns the
    `AnytimeRun` itself, which another thread can stop between stages.
    `clock` (integer nanoseconds) is injectable for tests.

    One owner for the stages' state: a run holds the cascade from `start` until
    it ends (stages hand buffers on that the next run overwrites), so calls
    from several threads wait for each other and get the answers they would
    get one by one; a thread that starts a second run before its first has
    ended is refused. `close()` (or `with Cascade(...) as cascade:`)
    releases LiteRT's models and buffers; closing twice is harmless.
    """

    def __init__(self, bundle: str | Path, num_threads: int = 1, policy: ExitPolicy | None = None,
                 engine: str = "compiled", latency_model: LatencyModel | None = None,
                 clock=time.perf_counter_ns):
        if engine not in ENGINES:
            raise MexitError(f"engine must be one of {', '.join(ENGINES)}; received {engine!r}.")
        self.bundle = Path(bundle)
        self.num_threads = num_threads
        self.manifest = read_manifest(self.bundle)
        self.engine = engine
        self.stages = [ENGINES[engine](stage_file(self.bundle, spec["file"]), spec, num_threads)
                       for spec in self.manifest["stages"]]
        self.policy = policy or ExitPolicy.from_dict(self.manifest["policy"])
        self.exit_names = [spec["exit"] for spec in self.manifest["stages"]]
        self.labels = self.manifest.get("labels") or []
        self.input_shape = tuple(self.manifest["input"]["shape"][1:])
        self.task = self.manifest.get("task", "classification")
        # What stage 0 (and the audio branch) take, by role: `image` or `waveform`, or both.
        spec = self.manifest["input"]
        self.input_shapes = {part.get("name") or self.stages[0].input_roles[0]:
                             tuple(part["shape"][1:]) for part in spec.get("parts", [spec])}
        self.latency_model = latency_model or LatencyModel.from_manifest(self.manifest)
        self.clock = clock
        # Shared with `sharing_stages` twins: they run the same stages.
        self._ownership = _Ownership()
        self._warm_up()

    def __enter__(self) -> "Cascade":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Releases every stage's LiteRT model and buffers (waits for a run in progress)."""
        with self._exclusive(closed_ok=True):
            for stage in self.stages:
                stage.close()
            self.stages = []
        batched = getattr(self, "_batched", None)
        if batched is not None:
            batched.close()

    def _claim(self, closed_ok: bool = False) -> None:
        """Takes the stages for one run (waiting for another thread's run to end)."""
        ownership = self._ownership
        if ownership.thread == threading.get_ident():
            raise MexitError("This thread already has a run of this cascade in progress; "
                             "finish it (run(), or step() until done) before starting another.")
        ownership.lock.acquire()
        ownership.thread = threading.get_ident()
        if not self.stages and not closed_ok:
            self._release()
            raise MexitError(f"This cascade over {str(self.bundle)!r} is closed.")

    def _release(self) -> None:
        self._ownership.thread = None
        self._ownership.lock.release()

    @contextlib.contextmanager
    def _exclusive(self, closed_ok: bool = False):
        self._claim(closed_ok)
        try:
            yield
        finally:
            self._release()

    def _warm_up(self) -> None:
        """Runs every stage once on zeros: a model's first run pays one-off costs (memory
        planning, weight packing) that would otherwise land on the first request and in
        the latency model's window."""
        state = {role: np.zeros((1, *shape), np.float32)
                 for role, shape in self.input_shapes.items()}
        from mexit_tf.native_stderr import quiet_native_stderr

        # LiteRT sets up its CPU accelerator on a model's first run, and logs it.
        with self._exclusive(), quiet_native_stderr():
            for stage in self.stages:
                stage.run_roles(state)

    def prepare(self, example) -> dict:
        """Checks one raw example against the input spec; returns `{role: float32 batch of one}`.

        `example` is an image (or a clip) for a one-input bundle, a dict
        `{"image", "waveform"}` for an audio-visual one."""
        if len(self.input_shapes) == 1:
            example = {next(iter(self.input_shapes)): example}
        elif not isinstance(example, dict) or set(example) != set(self.input_shapes):
            what = sorted(example) if isinstance(example, dict) else type(example).__name__
            raise MexitError(f"This bundle takes a dict with {sorted(self.input_shapes)}; "
                             f"received {what}.")
        return {role: self._batch_of_one(role, example[role]) for role in self.input_shapes}

    def _batch_of_one(self, role, value) -> np.ndarray:
        array, shape = np.asarray(value), self.input_shapes[role]
        if array.ndim == len(shape) - 1 and shape[-1] == 1:
            array = array[..., None]
        if tuple(array.shape) != shape:
            raise MexitError(f"{role.capitalize()} shape {tuple(array.shape)} does not match "
                             f"the bundle's input {shape}.")
        return array.astype(np.float32)[None]

    def predict(self, example, policy: ExitPolicy | None = None, deadline_ms: float | None = None,
                run_to_end: bool = False) -> CascadeResult:
        """Runs stage after stage until the policy (default: the bundle's) accepts an exit,
        the deadline leaves no room for the next stage, or the last stage has run.
        `run_to_end` ignores the policy (with a deadline: as deep as time allows)."""
        return self.start(example, policy, deadline_ms, run_to_end).run()

    def predict_batch(self, examples, batch_size: int = 64, policy: ExitPolicy | None = None,
                      deadline_ms: float | None = None,
                      run_to_end: bool = False) -> list[CascadeResult]:
        """Many examples at once: one `CascadeResult` per example, in input order, with the
        exit, label and logits `predict` gives each alone. Stage 0 runs on each batch of
        `batch_size`, each later stage on the rows the policy has not accepted yet
        (compacted); `deadline_ms` is per batch. See
        `mexit_tf.runtime.batched_cascade.BatchedCascade` (its prepared runners are kept
        on this cascade for the next call and closed with it)."""
        from mexit_tf.runtime.batched_cascade import predict_batch

        return predict_batch(self, examples, batch_size=batch_size, policy=policy,
                             deadline_ms=deadline_ms, run_to_end=run_to_end)

    def start(self, example, policy: ExitPolicy | None = None, deadline_ms: float | None = None,
              run_to_end: bool = False) -> AnytimeRun:
        """The interruptible form of `predict`: an `AnytimeRun` not yet begun (its clock
        already runs). `run()` it; `stop()` and `best()` work from other threads. The run
        holds the cascade's stages from here until it ends (waiting, first, for another
        thread's run): time spent waiting counts towards the deadline, and is learned
        with input preparation, not as stage time."""
        started = self.clock()
        deadline_ns = None if deadline_ms is None else checked_deadline_ns(deadline_ms)
        self._claim()
        claimed = [True]

        def end():
            if claimed:
                claimed.clear()
                self._release()

        try:
            state = self.prepare(example)
        except BaseException:
            end()
            raise

        def run_stage(index):
            return self.stages[index].run_roles(state)[0]

        def make_result(index, output, stage_ms, stopped_by):
            result = self._result(index, output[0], stage_ms)
            result.stopped_by = stopped_by
            return result

        def annotate(result, run):
            result.deadline_met, result.elapsed_ms = run.deadline_met, run.elapsed_ns / 1e6

        return AnytimeRun(run_stage, len(self.manifest["stages"]), policy or self.policy,
                          make_result, deadline_ns, self.latency_model, self.clock, started,
                          run_to_end, annotate, on_end=end)

    def _result(self, index, output, latencies):
        label = confidence = None
        if self.task == "classification":
            probabilities = softmax(output.astype(np.float64))
            top = int(probabilities.argmax())
            confidence = float(probabilities[top])
            label = self.labels[top] if top < len(self.labels) else str(top)
        return CascadeResult(index, self.exit_names[index], output, latencies, label, confidence)

    def run_all(self, images, progress: bool = True) -> tuple[list[np.ndarray], np.ndarray]:
        """Every stage on every image: `(K arrays (N, C), latencies (N, K) in ms)`.

        One pass yields what any policy would have done, so evaluation and
        calibration need no second run. `images` is an array of N inputs, or
        a dict of them for an audio-visual bundle.
        """
        count = example_count(images)
        if count == 0:
            raise MexitError("No images to run: received 0.")
        outputs = [[] for _ in self.exit_names]
        latencies = np.zeros((count, len(self.exit_names)))
        with self._exclusive():
            for row in tqdm(range(count), desc="cascade", unit="img", disable=not progress,
                            leave=False):
                state = self.prepare(example_at(images, row))
                for index, stage in enumerate(self.stages):
                    logits, latencies[row, index] = stage.run_roles(state)
                    outputs[index].append(logits[0])
        return [np.stack(o) for o in outputs], latencies

    def evaluate(self, images, labels, policy: ExitPolicy | None = None,
                 progress: bool = True, deadline_ms: float | None = None,
                 run_to_end: bool = False) -> dict:
        """Per-exit accuracy, the policy's accuracy, exit mix, latencies and speed-ups (or,
        with `deadline_ms`, what that deadline cost): `cascade_report.evaluate`."""
        from mexit_tf.runtime.cascade_report import evaluate

        return evaluate(self, images, labels, policy, progress, deadline_ms, run_to_end)

    def sharing_stages(self, latency_model: LatencyModel) -> "Cascade":
        """A second cascade over the same loaded stages with its own latency model (to
        compare settings side by side without loading the bundle again)."""
        twin = copy.copy(self)
        twin.latency_model = latency_model
        return twin

def checked_deadline_ns(deadline_ms) -> int:
    value = float(deadline_ms) if isinstance(deadline_ms, (int, float)) else math.nan
    if not math.isfinite(value) or value <= 0:
        raise MexitError(f"A deadline must be a positive number of milliseconds; received "
                         f"{deadline_ms!r}.")
    return int(value * 1e6)


class _Ownership:
    """Who runs a cascade's stages now: a lock and the thread holding it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.thread = None
