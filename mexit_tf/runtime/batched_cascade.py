"""Batched early exit: many inputs at once; only the rows the policy did not accept go deeper.

A bundle's stages are exported at batch 1 (`[1, ...]` inputs, and a few constants
that carry that 1: attention's head-merging reshape, the class token). This module
runs them at any batch size without changing the bundle: for each (stage, batch
size) it meets, it rewrites the stage's flatbuffer in memory (`batched_stage_bytes`),
loads it on LiteRT's `CompiledModel` with its inputs resized to that batch
(`resize_input_tensor`), checks it against the file as it is (the same rows at batch
1 must give the same outputs, `_check_rows`), and keeps it. A stage whose rewrite does
not check out runs row by row at batch 1 (slower, never wrong), with a warning.

Example:
>>> batched = BatchedCascade(Cascade("bundle/"))
>>> results = batched.predict_batch(images, batch_size=64)  # one CascadeResult per image
>>> [r.exit_index for r in results] == [cascade.predict(x).exit_index for x in images]
True
"""

import functools
import hashlib
import threading
import warnings
from collections import deque

import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy, softmax
from mexit_tf.runtime.cascade import Cascade, checked_deadline_ns
from mexit_tf.runtime.cascade_result import CascadeResult
from mexit_tf.runtime.compiled_stage import shared_environment
from mexit_tf.runtime.latency_model import nearest_rank
from mexit_tf.runtime.litert_stage import input_role
from mexit_tf.runtime.manifest import stage_file

# A rewritten stage's rows must equal the file's own batch-1 outputs to within this
# (XNNPACK may pick other micro-kernels for other batch sizes; measured: 0 difference).
_CHECK_ATOL, _CHECK_RTOL = 1e-5, 1e-5


class BatchingWarning(UserWarning):
    """A stage could not be run batched and runs row by row at batch 1."""


def bucket_sizes(batch_size: int) -> list[int]:
    """The batch sizes a stage is prepared at for `batch_size`: powers of two below it and
    `batch_size` itself. A compacted batch of n rows runs at the smallest size >= n (the
    padding rows are computed and ignored): log2(batch_size) + 1 prepared runners per
    stage instead of one per n met, each of which costs a load, XNNPACK's weight
    packing and its own buffers."""
    sizes, size = [], 1
    while size < batch_size:
        sizes.append(size)
        size *= 2
    return [*sizes, batch_size]


@functools.cache
def _operator_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {value: key for key, value in vars(schema.BuiltinOperator).items()
            if not key.startswith("_")}


def _operator_name(model, op) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return _operator_names().get(number, str(number))


def batched_stage_bytes(data: bytes, batch: int) -> bytes:
    """A batch-1 stage file rewritten to run at `batch` rows (in memory; the file stays).

    Only the constants that carry the batch of 1 change, every other byte of meaning
    stays: a RESHAPE's target keeps the batch as its leading dimension (`-1`), also
    where the batch-1 graph folded it away (`[1, 50, 4, 32] -> [50, 128]` becomes
    `[-1, 50, 128]`, and a FULLY_CONNECTED fed by it keeps that dimension); a constant
    concatenated to the rows (the class token) is repeated per row; a STRIDED_SLICE
    that ends the batch axis at 1 keeps every row. The inputs' shapes are then resized
    at load. Whatever this misses shows up in `_check_rows`, never in an answer."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))

    def new_buffer(array: np.ndarray) -> int:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)
        model.buffers.append(buffer)
        return len(model.buffers) - 1

    def constant(graph, index):
        if index < 0:
            return None
        buffer = model.buffers[graph.tensors[index].buffer]
        return buffer.data if buffer.data is not None and len(buffer.data) else None

    for graph in model.subgraphs:
        consumers = {}
        for op in graph.operators:
            for index in op.inputs:
                consumers.setdefault(index, []).append(op)
        for op in graph.operators:
            name = _operator_name(model, op)
            if name == "RESHAPE":
                target = list(graph.tensors[op.outputs[0]].shape)
                source = list(graph.tensors[op.inputs[0]].shape)
                if not target or not source or source[0] != 1 \
                        or constant(graph, op.inputs[0]) is not None:  # rows only
                    continue
                folded = target[0] != 1  # the batch-1 graph dropped the batch axis
                new_shape = [-1, *target] if folded else [-1, *target[1:]]
                tensor = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 else None
                if tensor is not None and constant(graph, op.inputs[1]) is not None:
                    # A buffer of its own: a constant may be shared with other operators.
                    tensor.buffer = new_buffer(np.array(new_shape, np.int32))
                    tensor.shape = np.array([len(new_shape)], np.int32)
                if getattr(op.builtinOptions, "newShape", None) is not None:
                    op.builtinOptions.newShape = list(new_shape)
                if folded:
                    for consumer in consumers.get(op.outputs[0], []):
                        if _operator_name(model, consumer) == "FULLY_CONNECTED":
                            consumer.builtinOptions.keepNumDims = True
            elif name == "CONCATENATION":
                for index in op.inputs:
                    values, tensor = constant(graph, index), graph.tensors[index]
                    if values is None or len(tensor.shape) == 0 or tensor.shape[0] != 1 \
                            or op.builtinOptions.axis in (0, -len(tensor.shape)):
                        continue
                    dtype = np.dtype(schema_dtype(tensor.type))
                    repeated = np.repeat(np.frombuffer(bytes(values), dtype).reshape(
                        tensor.shape), batch, axis=0)
                    tensor.buffer = new_buffer(repeated)
                    tensor.shape = np.array(repeated.shape, np.int32)
            elif name == "STRIDED_SLICE":
                options = op.builtinOptions
                if not options.endMask & 1 and constant(graph, op.inputs[2]) is not None:
                    end = np.frombuffer(bytes(constant(graph, op.inputs[2])), np.int32).copy()
                    if len(end) and end[0] == 1:
                        options.endMask |= 1
        # Inputs and outputs declare the batch (LiteRT sizes the buffers it creates from
        # the declared shapes; the inner tensors' shapes follow at run time).
        for index in [*graph.inputs, *graph.outputs]:
            tensor = graph.tensors[index]
            if len(tensor.shape) and tensor.shape[0] == 1:
                tensor.shape = np.array([batch, *list(tensor.shape)[1:]], np.int32)
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def schema_dtype(tensor_type: int) -> str:
    from ai_edge_litert import schema_py_generated as schema

    names = {schema.TensorType.FLOAT32: "float32", schema.TensorType.INT32: "int32",
             schema.TensorType.INT8: "int8", schema.TensorType.UINT8: "uint8",
             schema.TensorType.INT64: "int64", schema.TensorType.FLOAT16: "float16",
             schema.TensorType.INT16: "int16", schema.TensorType.BOOL: "bool"}
    if tensor_type not in names:
        raise MexitError(f"A stage constant of TFLite type {tensor_type} cannot be batched.")
    return names[tensor_type]


class _Output:
    """One output of a runner's last run, read out of its LiteRT buffer only if asked."""

    def __init__(self, buffer, shape):
        self.buffer, self.shape, self._array = buffer, tuple(shape), None

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = self.buffer.read(int(np.prod(self.shape)), np.float32).reshape(
                self.shape)
        return self._array


class _Runner:
    """One stage at one batch size: a CompiledModel with its buffers, and NumPy staging
    arrays for its inputs (rows are gathered into them, then written in one copy)."""

    def __init__(self, data: bytes, spec: dict, batch: int, num_threads: int):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        from mexit_tf.native_stderr import quiet_native_stderr

        self.batch, self.data = batch, data  # LiteRT may read the model from `data`: keep it
        self.model, self._in_buffers, self._out_buffers = None, [], []
        options = Options(hardware_accelerators=HardwareAccelerator.CPU,
                          cpu_options=CpuOptions(num_threads=num_threads))
        with quiet_native_stderr():
            self.model = CompiledModel.from_buffer(data, environment=shared_environment(),
                                                   options=options)
        signature = next(iter(self.model.get_signature_list().values()))
        by_name = {tensor["name"]: tensor for tensor in spec["inputs"]}
        self.input_roles = [input_role(name) for name in signature["inputs"]]
        self.inputs = []
        for index, name in enumerate(signature["inputs"]):
            shape = [batch, *by_name[name]["shape"][1:]]
            if batch != 1:
                self.model.resize_input_tensor(index, shape, strict=False)
            self.inputs.append(np.zeros(shape, np.float32))
        outputs = {tensor["name"]: tensor for tensor in spec["outputs"]}
        self.output_roles = [outputs[name]["role"] for name in signature["outputs"]]
        self.output_shapes = [(batch, *outputs[name]["shape"][1:])
                              for name in signature["outputs"]]
        self._in_buffers = self.model.create_input_buffers(0)
        self._out_buffers = self.model.create_output_buffers(0)
        self.by_role = {}
        # A buffer smaller than what the stage writes would crash the process: refuse.
        wanted = [*(a.shape for a in self.inputs), *self.output_shapes]
        made = [tuple(b.get_tensor_details()["shape"])
                for b in [*self._in_buffers, *self._out_buffers]]
        if made != [tuple(shape) for shape in wanted]:
            self.close()
            raise RuntimeError(f"LiteRT made buffers of shapes {made}, not {wanted}")

    def run(self, bound=None) -> None:
        """Runs on `self.inputs`, except inputs (by index) bound to a handed-on buffer."""
        bound = bound or {}
        buffers = []
        for index, buffer in enumerate(self._in_buffers):
            if index in bound:
                buffers.append(bound[index])
            else:
                buffer.write(self.inputs[index])
                buffers.append(buffer)
        self.model.run_by_index(0, buffers, self._out_buffers)
        self.by_role = {role: _Output(buffer, shape) for role, buffer, shape in
                        zip(self.output_roles, self._out_buffers, self.output_shapes,
                            strict=True)}

    @property
    def outputs(self) -> list[np.ndarray]:
        return [self.by_role[role].array() for role in self.output_roles]

    def close(self) -> None:
        for buffer in [*self._in_buffers, *self._out_buffers]:
            buffer.destroy()
        self._in_buffers = self._out_buffers = []
        if self.model is not None:
            self.model.close()
            self.model = None


class _RowByRow:
    """A stage that could not be batched: the batch-1 runner, once per row."""

    def __init__(self, single: _Runner, batch: int):
        self.single, self.batch = single, batch
        self.input_roles, self.output_roles = single.input_roles, single.output_roles
        self.inputs = [np.zeros((batch, *a.shape[1:]), np.float32) for a in single.inputs]
        self.rows = batch
        self.by_role = {}

    def run(self, bound=None) -> None:
        outputs = [np.zeros(shape, np.float32) for shape in (
            (self.batch, *s[1:]) for s in self.single.output_shapes)]
        for row in range(self.rows):
            for source, target in zip(self.inputs, self.single.inputs, strict=True):
                target[0] = source[row]
            self.single.run()
            for target, source in zip(outputs, self.single.outputs, strict=True):
                target[row] = source[0]
        self.by_role = {role: _Fixed(array) for role, array in
                        zip(self.output_roles, outputs, strict=True)}

    def close(self) -> None:
        pass


class _Fixed:
    """An array standing in for a runner output (inputs, rows computed one by one)."""

    buffer = None

    def __init__(self, array):
        self._array, self.shape = array, array.shape

    def array(self) -> np.ndarray:
        return self._array


class _BatchTimes:
    """Measured step times per (stage, batch size), for deadlines.

    A step of stage k at n rows is predicted from what this process measured:
    - that stage at that batch size: the latency model's `quantile` (default p99) of
      its last `window` steps, the same tail the batch-1 model uses, so a busy spell
      shows up in the prediction;
    - else the nearest smaller batch size measured, scaled by rows (per-row cost
      only falls as batches grow: weight reads and per-call overhead are shared, so
      this over-estimates), or the nearest larger one as it is (fewer rows take no
      longer);
    - else the cascade's per-image prediction for stage k (`LatencyModel.predict_ns`,
      which follows batch-1 runs and the machine's slowdown) times n: linear in rows,
      an upper bound for the same reason, until this batch size has been measured.
    Finishing (building n answers) is predicted as n times the tail of the measured
    per-row finishing time.
    """

    def __init__(self, latency_model, window: int = 50):
        self.latency_model, self.window = latency_model, window
        self.quantile = getattr(latency_model, "quantile", 0.99)
        self._steps: dict[tuple[int, int], deque] = {}
        self._finish_per_row: deque = deque(maxlen=window)

    def observe(self, stage: int, batch: int, step_ns: int) -> None:
        self._steps.setdefault((stage, batch), deque(maxlen=self.window)).append(int(step_ns))

    def observe_finish(self, rows: int, finish_ns: int) -> None:
        self._finish_per_row.append(finish_ns / max(rows, 1))

    def _tail(self, values) -> float:
        return float(nearest_rank(sorted(values), self.quantile))

    def predict_ns(self, stage: int, batch: int) -> int:
        if (stage, batch) in self._steps:
            return int(self._tail(self._steps[(stage, batch)]))
        measured = sorted(size for (index, size) in self._steps if index == stage)
        smaller = [size for size in measured if size < batch]
        if smaller:
            return int(self._tail(self._steps[(stage, smaller[-1])]) * batch / smaller[-1])
        if measured:
            return int(self._tail(self._steps[(stage, measured[0])]))
        return int(self.latency_model.predict_ns(stage) * batch)

    def predict_finish_ns(self, rows: int) -> int:
        if not self._finish_per_row:
            return 0
        return int(self._tail(self._finish_per_row) * rows)


class BatchedCascade:
    """Runs a `Cascade`'s bundle on batches: stage 0 on every row, then each stage on
    the rows the policy has not accepted yet, compacted.

    `predict_batch(examples, batch_size=64)` answers one `CascadeResult` per example,
    in input order, with the exit, label and logits that `cascade.predict` gives it
    alone (the stages compute each row independently; a test holds them to 1e-5).
    Examples are cut into batches of `batch_size`; a batch whose rows the policy has
    thinned runs the next stage at once on what is left (a partly filled batch never
    waits for others). What a stage hands on is gathered row by row into the next
    stage's input (the rows that left are not copied), or, when every row goes on,
    the next stage reads the previous one's output in place.

    Per result: `stage_latencies_ms` are each stage's batch time divided by the rows
    it ran on (the per-image cost at that batch), `elapsed_ms` the whole batch's
    time, `deadline_met` whether the batch was answered within `deadline_ms`.

    The stages' batch-1 runners are this object's own (the cascade's stages are not
    touched), so a `BatchedCascade` and its `Cascade` do not share buffers. One batch
    runs at a time; callers from other threads wait. `close()` releases the runners.
    """

    def __init__(self, cascade: Cascade, num_threads: int | None = None):
        self.cascade = cascade
        self.num_threads = int(num_threads or getattr(cascade, "num_threads", 1))
        self.specs = cascade.manifest["stages"]
        self.num_stages = len(self.specs)
        self._files: list[bytes] = []
        for spec in self.specs:
            data = stage_file(cascade.bundle, spec["file"]).read_bytes()
            # Read again here, so checked again: the file may have changed since loading.
            if hashlib.sha256(data).hexdigest() != spec["sha256"]:
                raise MexitError(f"Stage file {spec['file']!r} changed since the bundle was "
                                 f"loaded (its sha256 no longer matches the manifest).")
            self._files.append(data)
        self._runners: dict[tuple[int, int], object] = {}
        self._unbatchable: set[int] = set()
        self.times = _BatchTimes(cascade.latency_model)
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> "BatchedCascade":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Releases every prepared runner (idempotent)."""
        with self._lock:
            for runner in self._runners.values():
                runner.close()
            self._runners, self._closed = {}, True

    # -- runners ---------------------------------------------------------------------

    def runner(self, stage: int, batch: int):
        """The prepared runner of `stage` at `batch` rows (made, and checked, on first use)."""
        key = (stage, batch)
        if key not in self._runners:
            if batch == 1:
                self._runners[key] = _Runner(self._files[stage], self.specs[stage], 1,
                                             self.num_threads)
            elif stage in self._unbatchable:
                self._runners[key] = _RowByRow(self.runner(stage, 1), batch)
            else:
                self._runners[key] = self._batched_runner(stage, batch)
        return self._runners[key]

    def _batched_runner(self, stage: int, batch: int):
        spec = self.specs[stage]
        try:
            data = batched_stage_bytes(self._files[stage], batch)
            runner = _Runner(data, spec, batch, self.num_threads)
            problem = self._check_rows(stage, runner)
        except (RuntimeError, ValueError, KeyError, AttributeError, TypeError) as error:
            runner, problem = None, str(error).splitlines()[0] if str(error) else repr(error)
        if problem is None:
            return runner
        if runner is not None:
            runner.close()
        self._unbatchable.add(stage)
        warnings.warn(f"Stage {spec['file']!r} does not run batched ({problem}); it runs "
                      f"row by row at batch 1.", BatchingWarning, stacklevel=3)
        return _RowByRow(self.runner(stage, 1), batch)

    def _check_rows(self, stage: int, runner: _Runner) -> str | None:
        """Runs the rewritten stage on distinct random rows and compares three of them
        with the file's own batch-1 runner; returns what differs, or None."""
        single = self.runner(stage, 1)
        rng = np.random.default_rng(stage * 7919 + runner.batch)
        for array, role in zip(runner.inputs, runner.input_roles, strict=True):
            if role in self.cascade.input_shapes:  # raw inputs: in the input's value range
                low, high = self.cascade.manifest["input"].get("value_range", [0.0, 1.0])
                array[...] = rng.uniform(low, high, array.shape)
            else:
                array[...] = rng.standard_normal(array.shape)
        runner.run()
        for row in sorted({0, runner.batch // 2, runner.batch - 1}):
            for source, target in zip(runner.inputs, single.inputs, strict=True):
                target[0] = source[row]
            single.run()
            for role, want, got in zip(single.output_roles, single.outputs, runner.outputs,
                                       strict=True):
                if not np.allclose(got[row], want[0], rtol=_CHECK_RTOL, atol=_CHECK_ATOL):
                    return (f"row {row} of {runner.batch}: {role} differs from batch 1 by "
                            f"{float(np.abs(got[row] - want[0]).max()):.3g}")
        return None

    def prepare(self, batch_size: int) -> None:
        """Prepares every stage at every size a batch of `batch_size` can meet (each
        is otherwise prepared on first use, inside the first batches' time)."""
        batch_size = _checked_batch_size(batch_size)
        with self._lock:
            for stage in range(self.num_stages):
                for size in bucket_sizes(batch_size):
                    self.runner(stage, size)

    def delegation(self, stage: int, batch: int) -> dict:
        """How stage `stage` rewritten for `batch` rows maps onto XNNPACK (partitions and
        ops left outside; `delegation.xnnpack_delegation`'s record, at that batch size)."""
        from mexit_tf.runtime.delegation import xnnpack_delegation

        # The rewritten file declares `batch` rows, so the Interpreter prepares it at that
        # size before XNNPACK takes its nodes.
        data = self._files[stage] if batch == 1 else batched_stage_bytes(self._files[stage],
                                                                         batch)
        return xnnpack_delegation(data, self.num_threads)

    # -- inputs ----------------------------------------------------------------------

    def _examples(self, examples) -> tuple[int, object]:
        """(count, a function rows -> {role: float32 (n, ...)}), checking the examples."""
        shapes = self.cascade.input_shapes
        if isinstance(examples, dict) and len(shapes) > 1:
            if set(examples) != set(shapes):
                raise MexitError(f"This bundle takes a dict with {sorted(shapes)}; received "
                                 f"{sorted(examples)}.")
            arrays = {role: self._array(role, examples[role]) for role in shapes}
            counts = {role: len(array) for role, array in arrays.items()}
            if len(set(counts.values())) != 1:
                raise MexitError(f"Every input needs the same number of examples; received "
                                 f"{counts}.")
            # Converted to float32 one batch at a time (a folder of big images stays small).
            return next(iter(counts.values())), lambda s: {
                r: np.asarray(a[s], np.float32) for r, a in arrays.items()}
        if isinstance(examples, np.ndarray) and len(shapes) == 1:
            role = next(iter(shapes))
            array = self._array(role, examples)
            return len(array), lambda s: {role: np.asarray(array[s], np.float32)}
        if isinstance(examples, (list, tuple)):
            prepared = []
            for number, example in enumerate(examples):
                try:
                    prepared.append(self.cascade.prepare(example))
                except MexitError as error:
                    raise MexitError(f"Example {number}: {error}") from None
            if not prepared:
                raise MexitError("No examples to run: received 0.")
            arrays = {role: np.concatenate([p[role] for p in prepared]) for role in shapes}
            return len(prepared), lambda s: {r: a[s] for r, a in arrays.items()}
        kind = "a dict of arrays" if len(shapes) > 1 else "an array of N inputs"
        raise MexitError(f"predict_batch takes {kind} or a list of examples; received "
                         f"{type(examples).__name__}.")

    def _array(self, role: str, values) -> np.ndarray:
        shape = self.cascade.input_shapes[role]
        try:
            array = np.asarray(values)
        except ValueError:  # ragged nested lists
            array = np.asarray(values, dtype=object)
        if array.dtype.kind not in "biuf":
            raise MexitError(f"{role.capitalize()} examples must be numbers; received "
                             f"{array.dtype} values.")
        if array.ndim == len(shape) and shape[-1] == 1:
            array = array[..., None]
        if array.ndim != len(shape) + 1 or tuple(array.shape[1:]) != shape:
            raise MexitError(f"{role.capitalize()} examples of shape {tuple(array.shape)} do "
                             f"not match the bundle's input: (N, {', '.join(map(str, shape))}).")
        if len(array) == 0:
            raise MexitError("No examples to run: received 0.")
        return array

    # -- running ---------------------------------------------------------------------

    def predict_batch(self, examples, batch_size: int = 64, policy: ExitPolicy | None = None,
                      deadline_ms: float | None = None,
                      run_to_end: bool = False) -> list[CascadeResult]:
        """One `CascadeResult` per example, in input order (see the class).

        `examples`: an array of N inputs (N, H, W[, C]) or a list of examples (for an
        audio-visual bundle, a dict of arrays); `policy` defaults to the bundle's;
        `run_to_end` ignores the policy. `deadline_ms` applies to each batch: stage k+1
        runs on a batch's remaining rows only if the time spent on that batch plus the
        predicted time of stage k+1 at that many rows (`_BatchTimes`) and of building
        the answers fits; otherwise those rows answer with exit k (`stopped_by`
        "deadline"). Rows the policy accepted say "policy", as they would alone."""
        batch_size = _checked_batch_size(batch_size)
        deadline_ns = None if deadline_ms is None else checked_deadline_ns(deadline_ms)
        policy = policy or self.cascade.policy
        if not isinstance(policy, ExitPolicy):
            raise MexitError(f"policy must be an ExitPolicy; received {type(policy).__name__}.")
        count, rows_of = self._examples(examples)
        results: list[CascadeResult | None] = [None] * count
        with self._lock:
            if self._closed:
                raise MexitError("This batched cascade is closed.")
            for start in range(0, count, batch_size):
                stop = min(start + batch_size, count)
                self._run_batch(rows_of(slice(start, stop)), start, stop - start, batch_size,
                                policy, deadline_ns, run_to_end, results)
        return results

    def _bucket(self, rows: int, batch_size: int) -> int:
        return next(size for size in bucket_sizes(batch_size) if size >= rows)

    def run_all(self, examples, batch_size: int = 64,
                progress: bool = True) -> list[np.ndarray]:
        """Every stage on every example, in batches of `batch_size`: one array (N, C) per
        exit, what `Cascade.run_all` gives one by one (within float tolerance). One pass
        yields what any policy would do: evaluation and calibration need no other run."""
        from tqdm.auto import tqdm

        batch_size = _checked_batch_size(batch_size)
        count, rows_of = self._examples(examples)
        results: list[CascadeResult | None] = [None] * count
        collected: list[list[np.ndarray]] = []
        with self._lock, tqdm(total=count, desc="cascade", unit="img", disable=not progress,
                              leave=False) as bar:
            if self._closed:
                raise MexitError("This batched cascade is closed.")
            for start in range(0, count, batch_size):
                stop = min(start + batch_size, count)
                self._run_batch(rows_of(slice(start, stop)), start, stop - start, batch_size,
                                self.cascade.policy, None, True, results, collected)
                bar.update(stop - start)
        return [np.concatenate([history[stage] for history in collected])
                for stage in range(self.num_stages)]

    def _run_batch(self, inputs, offset, rows, batch_size, policy, deadline_ns, run_to_end,
                   results, collected=None) -> None:
        clock = self.cascade.clock
        started = clock()
        active = np.arange(rows)  # which of the batch's rows are still running
        # Where each input role comes from: (array, row of it for each active row).
        sources = {role: (_Fixed(array), active) for role, array in inputs.items()}
        history: list[np.ndarray] = []  # logits per stage so far, active rows only
        per_row_ms: list[np.ndarray] = []  # per stage: each active row's share of its time
        finished = []  # (rows of the batch, stage, stopped_by)
        last = started
        for stage in range(self.num_stages):
            count = len(active)
            size = self._bucket(count, batch_size)
            runner = self.runner(stage, size)
            if isinstance(runner, _RowByRow):
                runner.rows = count
            bound = {}
            for index, role in enumerate(runner.input_roles):
                if role not in sources:
                    raise MexitError(f"Stage {self.specs[stage]['file']!r} takes {role!r}; "
                                     f"the stages before it hand on "
                                     f"{', '.join(map(repr, sources))}.")
                source, taken = sources[role]
                if source.buffer is not None and not isinstance(runner, _RowByRow) \
                        and source.shape == runner.inputs[index].shape \
                        and np.array_equal(taken, np.arange(count)):
                    bound[index] = source.buffer  # every row goes on: no copy at all
                else:  # gather the rows going on (the others are not copied)
                    np.take(source.array(), taken, axis=0, out=runner.inputs[index][:count])
            runner.run(bound)
            logits = runner.by_role["logits"].array()[:count].copy()
            history.append(logits)
            ended = clock()
            self.times.observe(stage, size, ended - last)
            per_row_ms.append(np.full(count, (ended - last) / 1e6 / count))
            last = ended
            for role, output in runner.by_role.items():
                if role != "logits":
                    sources[role] = (output, np.arange(count))
            if stage == self.num_stages - 1:
                finished.append((active, stage, "last_stage", history, per_row_ms, None))
                if collected is not None:  # run to the end: every row's logits at every exit
                    collected.append(history)
                break
            if run_to_end:
                accept = np.zeros(count, bool)
            elif stage + 1 == policy.num_exits:
                accept = np.ones(count, bool)
            else:
                accept = np.asarray(policy.accepts(history, stage), bool).reshape(count)
            if accept.any():
                finished.append((active, stage, "policy", history, per_row_ms, accept))
            keep = np.flatnonzero(~accept)
            if not len(keep):
                break
            if deadline_ns is not None:
                needed = (self.times.predict_ns(stage + 1, self._bucket(len(keep), batch_size))
                          + self.times.predict_finish_ns(rows))
                if clock() - started + needed > deadline_ns:
                    finished.append((active, stage, "deadline", history, per_row_ms, ~accept))
                    break
            # Compact: only the rows going on are kept (their indices; no copy yet).
            active = active[keep]
            history = [h[keep] for h in history]
            per_row_ms = [t[keep] for t in per_row_ms]
            sources = {role: (source, taken[keep]) for role, (source, taken) in sources.items()}
        before = clock()
        self._answer(finished, offset, results)
        answered = clock()
        self.times.observe_finish(rows, answered - before)
        elapsed_ns = answered - started
        for row in range(offset, offset + rows):
            results[row].elapsed_ms = elapsed_ns / 1e6
            if deadline_ns is not None:
                results[row].deadline_met = elapsed_ns <= deadline_ns

    def _answer(self, finished, offset, results) -> None:
        cascade = self.cascade
        for active, stage, stopped_by, history, per_row_ms, mask in finished:
            chosen = np.arange(len(active)) if mask is None else np.flatnonzero(mask)
            logits = history[stage][chosen]
            latencies = np.stack([t[chosen] for t in per_row_ms[:stage + 1]], axis=1)
            labels = confidences = [None] * len(chosen)
            if cascade.task == "classification":
                probabilities = softmax(logits.astype(np.float64))
                tops = probabilities.argmax(-1)
                confidences = probabilities[np.arange(len(chosen)), tops].tolist()
                labels = [cascade.labels[top] if top < len(cascade.labels) else str(top)
                          for top in tops.tolist()]
            name = cascade.exit_names[stage]
            for number, row in enumerate(active[chosen].tolist()):
                results[offset + row] = CascadeResult(
                    stage, name, logits[number], latencies[number].tolist(), labels[number],
                    confidences[number], stopped_by=stopped_by)


def _checked_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or not 1 <= batch_size <= 4096:
        raise MexitError(f"batch_size must be an integer from 1 to 4096; received "
                         f"{batch_size!r}.")
    return int(batch_size)


def predict_batch(cascade: Cascade, examples, batch_size: int = 64, **options):
    """`BatchedCascade(cascade).predict_batch(examples, batch_size, ...)`, with the
    batched runners kept on the cascade for its next call."""
    batched = getattr(cascade, "_batched", None)
    if batched is None or batched._closed:
        batched = cascade._batched = BatchedCascade(cascade)
    return batched.predict_batch(examples, batch_size=batch_size, **options)


__all__ = ["BatchedCascade", "BatchingWarning", "batched_stage_bytes", "bucket_sizes",
           "predict_batch"]
