import atexit
import time
from pathlib import Path

import numpy as np

from mexit_tf.errors import MexitError
from mexit_tf.runtime.litert_stage import check_stage_tensors, input_role

_ENVIRONMENT = None


def shared_environment():
    """One LiteRT `Environment` for every stage of the process (the runtime's design:
    stages share it, so their buffers can be handed from one to the next)."""
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        from ai_edge_litert.environment import Environment

        from mexit_tf.native_stderr import quiet_native_stderr

        # LiteRT looks for NPU and vendor compiler plug-ins and logs each one it cannot
        # load; a CPU run needs none of them.
        with quiet_native_stderr():
            _ENVIRONMENT = Environment.create()
        atexit.register(_release_quietly)
    return _ENVIRONMENT


def _release_quietly() -> None:
    """At exit, native stderr goes to /dev/null (Python's own stderr keeps its place, so
    Python's messages still show): LiteRT logs INFO lines as it destroys its accelerators
    at process teardown, which a program using the runtime did not ask for.
    MEXIT_SHOW_TF_LOGS=1 keeps them."""
    from mexit_tf.native_stderr import divert_native_stderr

    divert_native_stderr()


def _verify_stage(model, spec) -> None:
    """CompiledModel crashes the process on a malformed file; the Interpreter's loader
    verifies the flatbuffer and raises. Loaded without delegates: it only checks, then
    the file's tensors are compared with the manifest's."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    try:
        if isinstance(model, bytes):
            interpreter = Interpreter(model_content=model, experimental_op_resolver_type=resolver)
        else:
            interpreter = Interpreter(model_path=str(model),
                                      experimental_op_resolver_type=resolver)
        # A well-formed flatbuffer can still hold a graph whose computed shapes differ from
        # the ones it declares (a flipped operator index, a changed slice constant); LiteRT
        # then crashes at run time. Preparing it computes the shapes, compared below.
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise MexitError(f"Stage {spec.get('file', '?')!r} is not a loadable TFLite model "
                         f"({str(error).splitlines()[0]}).") from None
    check_stage_tensors(interpreter, spec)


class CompiledStage:
    """One exported stage on LiteRT's `CompiledModel`, inputs and outputs by role.

    Buffers are created once. What a stage hands on (`hidden`, `audio_token`)
    stays in its output `TensorBuffer`, which the next stage takes as its input
    as it is: no copy between stages; only the exit's logits are read out.
    Same interface as `LiteRTStage` (the Interpreter), which export keeps for
    inspecting a stage's execution plan.

    Example:
    >>> stage = CompiledStage("bundle/stage_0.tflite", manifest["stages"][0])
    >>> outputs, ms = stage.run(image_batch)      # {"logits": ..., "hidden": ...}
    """

    def __init__(self, model: bytes | str | Path, spec: dict, num_threads: int = 1):
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.cpu_options import CpuOptions
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import Options

        from mexit_tf.native_stderr import quiet_native_stderr

        self.spec = dict(spec)
        _verify_stage(model, self.spec)
        options = Options(hardware_accelerators=HardwareAccelerator.CPU,
                          cpu_options=CpuOptions(num_threads=num_threads))
        try:
            with quiet_native_stderr():
                environment = shared_environment()
                self.model = (CompiledModel.from_buffer(model, environment=environment,
                                                        options=options)
                              if isinstance(model, bytes) else
                              CompiledModel.from_file(str(model), environment=environment,
                                                      options=options))
        except RuntimeError as error:
            raise MexitError(f"Stage {self.spec.get('file', '?')!r} does not load on LiteRT "
                             f"({str(error).splitlines()[0]}).") from None
        signature = next(iter(self.model.get_signature_list().values()))
        self._inputs = self.model.create_input_buffers(0)
        self._outputs = self.model.create_output_buffers(0)
        by_name = {spec_input["name"]: spec_input for spec_input in self.spec["inputs"]}
        self.input_roles = [input_role(name) for name in signature["inputs"]]
        self._input_shapes = [tuple(by_name[name]["shape"]) for name in signature["inputs"]]
        roles = {output["name"]: output for output in self.spec["outputs"]}
        self._output_roles = [roles[name]["role"] for name in signature["outputs"]]
        self._logits = self._output_roles.index("logits")
        self._logits_shape = tuple(roles[signature["outputs"][self._logits]]["shape"])
        self._logits_size = int(np.prod(self._logits_shape))
        self._output_shapes = [tuple(roles[name]["shape"]) for name in signature["outputs"]]
        self._handed_on = {role: buffer for role, buffer in
                           zip(self._output_roles, self._outputs, strict=True) if role != "logits"}

    def _bind(self, state) -> list:
        """The input buffers for this run: handed-on buffers as they are, arrays written in."""
        buffers = []
        for index, role in enumerate(self.input_roles):
            if role not in state:
                raise MexitError(f"Stage {self.spec.get('file', '?')!r} takes {role!r}; "
                                 f"received {', '.join(map(repr, state)) or 'nothing'}.")
            value = state[role]
            if isinstance(value, np.ndarray):
                if value.shape != self._input_shapes[index]:
                    raise MexitError(f"Stage {self.spec.get('file', '?')!r} takes {role} of "
                                     f"shape {self._input_shapes[index]}; received "
                                     f"{value.shape}.")
                self._inputs[index].write(value.astype(np.float32, copy=False))
                buffers.append(self._inputs[index])
            else:  # a TensorBuffer another stage handed on
                buffers.append(value)
        return buffers

    def _logits_out(self) -> np.ndarray:
        return self._outputs[self._logits].read(self._logits_size, np.float32).reshape(
            self._logits_shape)

    def run_roles(self, state: dict) -> tuple[np.ndarray, float]:
        """The cascade's step: runs on `state` (by role) and puts what this stage hands on
        (its output buffers, valid until it runs again) into `state`. Returns
        `(logits, milliseconds)`."""
        started = time.perf_counter()
        self.model.run_by_index(0, self._bind(state), self._outputs)
        state.update(self._handed_on)
        return self._logits_out(), (time.perf_counter() - started) * 1000.0

    def run(self, x) -> tuple[dict[str, np.ndarray], float]:
        """`({role: array}, milliseconds)`: every output read out (for tools, not the cascade).
        `x` is an array for a stage with one input, else a dict by role."""
        state = x if isinstance(x, dict) else {self.input_roles[0]: np.asarray(x)}
        if not isinstance(x, dict) and len(self.input_roles) > 1:
            raise MexitError(f"Stage {self.spec.get('file', '?')!r} takes several inputs "
                             f"({', '.join(self.input_roles)}); pass a dict by role.")
        started = time.perf_counter()
        self.model.run_by_index(0, self._bind(state), self._outputs)
        outputs = {role: buffer.read(int(np.prod(shape)), np.float32).reshape(shape)
                   for role, buffer, shape in zip(self._output_roles, self._outputs,
                                                  self._output_shapes, strict=True)}
        return outputs, (time.perf_counter() - started) * 1000.0

    def median_latency_ms(self, x, runs: int = 50, warmup: int = 5) -> float:
        for _ in range(warmup):
            self.run(x)
        return float(np.median([self.run(x)[1] for _ in range(runs)]))

    def close(self) -> None:
        """Releases the compiled model and its buffers (idempotent)."""
        for buffer in [*getattr(self, "_inputs", []), *getattr(self, "_outputs", [])]:
            buffer.destroy()
        self._inputs, self._outputs, self._handed_on = [], [], {}
        if getattr(self, "model", None) is not None:
            self.model.close()
            self.model = None
