import time
from pathlib import Path

import numpy as np

from mexit_tf.errors import MexitError

# Stage inputs are named by what they carry; tokens handed on from an
# earlier stage carry an `_in` suffix (a Keras name must differ from the
# outputs'). The raw inputs' roles are their names: `image`, `waveform`.
_HANDED_ON = {"hidden_in": "hidden", "audio_token_in": "audio_token"}


def input_role(name: str) -> str:
    return _HANDED_ON.get(name, name)


def check_stage_tensors(interpreter, spec: dict) -> None:
    """Refuses a stage file whose input and output tensors are not the manifest's: the same
    names, shapes (as the prepared `interpreter` computed them) and float32. A bundle's
    files are checked against its manifest before the stage is run (a swapped or foreign
    file would otherwise be fed wrong buffers)."""
    file = spec.get("file", "?")
    for kind, details in (("inputs", interpreter.get_input_details()),
                          ("outputs", interpreter.get_output_details())):
        actual = {d["name"]: d for d in details}
        declared = {tensor["name"]: tensor for tensor in spec[kind]}
        if set(actual) != set(declared):
            raise MexitError(f"Stage file {file!r} does not match the manifest: its {kind} are "
                             f"{sorted(actual)}, the manifest's {sorted(declared)}.")
        for name, detail in actual.items():
            shape = [int(n) for n in detail["shape"]]
            if shape != list(declared[name]["shape"]) or detail["dtype"] != np.float32:
                raise MexitError(
                    f"Stage file {file!r} does not match the manifest: {kind[:-1]} {name!r} is "
                    f"{np.dtype(detail['dtype']).name} {shape} in the file, float32 "
                    f"{declared[name]['shape']} in the manifest.")


class LiteRTStage:
    """One exported stage on the LiteRT interpreter; inputs and outputs mapped by role.

    `spec` is the stage's manifest entry (its `outputs` name each tensor's
    role: `logits`, `hidden` or `audio_token`; its inputs' roles follow from
    their names, `input_role`). Without one (at export), output roles follow
    the order the stage returns them in: `spec["output_roles"]`, by default
    `(logits, hidden)`, and `spec` is filled in.
    """

    def __init__(self, model: bytes | str | Path, spec: dict | None = None,
                 num_threads: int = 1):
        spec = dict(spec or {})
        from ai_edge_litert.interpreter import Interpreter

        try:
            if isinstance(model, bytes):
                self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
            else:
                self.interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise MexitError(f"Stage {spec.get('file', '?')!r} is not a loadable TFLite model "
                             f"({str(error).splitlines()[0]}).") from None
        inputs = self.interpreter.get_input_details()
        if "outputs" in spec:
            check_stage_tensors(self.interpreter, spec)
        else:
            details = self.interpreter.get_output_details()
            roles = spec.pop("output_roles", None) or ["logits", "hidden"][:len(details)]
            spec["outputs"] = [{"role": role, "name": d["name"], "shape": d["shape"].tolist(),
                                "dtype": np.dtype(d["dtype"]).name}
                               for role, d in zip(roles, details, strict=True)]
            spec["inputs"] = [{"role": input_role(d["name"]), "name": d["name"],
                               "shape": d["shape"].tolist(), "dtype": np.dtype(d["dtype"]).name}
                              for d in inputs]
        self.spec = spec
        by_name = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self._outputs = {o["role"]: by_name[o["name"]] for o in spec["outputs"]}
        # Persistent views of the input and output buffers: a stage is fed and read
        # with no call into the interpreter and no allocation per run. LiteRT's
        # public invoke() refuses to run while such views exist, because
        # allocate_tensors() may move the buffers; a stage never reallocates after
        # loading, so it invokes the wrapped interpreter directly.
        self._input_arrays = {input_role(d["name"]): self.interpreter.tensor(d["index"])()
                              for d in inputs}
        self.input_roles = list(self._input_arrays)
        # A stage that takes one tensor is fed an array; others a dict by role.
        self._input_array = (next(iter(self._input_arrays.values()))
                             if len(inputs) == 1 else None)
        self._output_arrays = {role: self.interpreter.tensor(index)()
                               for role, index in self._outputs.items()}
        self._handed_on = {role: array for role, array in self._output_arrays.items()
                           if role != "logits"}
        self.invoke = self.interpreter._interpreter.Invoke

    def _feed(self, x) -> None:
        if isinstance(x, dict):
            for role, array in self._input_arrays.items():
                if role not in x:
                    raise MexitError(f"Stage {self.spec.get('file', '?')!r} takes {role!r}; "
                                     f"received {', '.join(map(repr, x)) or 'nothing'}.")
                self._copy_in(array, np.asarray(x[role]), role)
        elif self._input_array is None:
            raise MexitError(f"Stage {self.spec.get('file', '?')!r} takes several inputs "
                             f"({', '.join(self.input_roles)}); pass a dict by role.")
        else:
            self._copy_in(self._input_array, x, self.input_roles[0])

    def _copy_in(self, buffer, x, role):
        if x.shape != buffer.shape:
            raise MexitError(f"Stage {self.spec.get('file', '?')!r} takes {role} of shape "
                             f"{buffer.shape}; received {x.shape}.")
        np.copyto(buffer, x, casting="same_kind")

    def run(self, x) -> tuple[dict[str, np.ndarray], float]:
        """Returns `({role: array}, milliseconds)`; the time covers copy-in, invoke, copy-out.

        `x` is an array for a stage with one input, else a dict by role."""
        started = time.perf_counter()
        self._feed(x)
        self.invoke()
        outputs = {role: array.copy() for role, array in self._output_arrays.items()}
        return outputs, (time.perf_counter() - started) * 1000.0

    def run_roles(self, state: dict) -> tuple[np.ndarray, float]:
        """The cascade's step: feeds this stage's inputs from `state` (by role), runs it,
        and puts what it hands on (`hidden`, `audio_token`) into `state`.

        Returns `(logits, milliseconds)`. The values put into `state` are this
        stage's output buffers themselves (one copy of the tokens saved per
        stage), valid until it runs again.
        """
        started = time.perf_counter()
        self._feed(state)
        self.invoke()
        state.update(self._handed_on)
        return self._output_arrays["logits"].copy(), (time.perf_counter() - started) * 1000.0

    def median_latency_ms(self, x, runs: int = 50, warmup: int = 5) -> float:
        for _ in range(warmup):
            self.run(x)
        return float(np.median([self.run(x)[1] for _ in range(runs)]))

    def close(self) -> None:
        """Drops the interpreter and the views into its buffers (idempotent)."""
        self._input_arrays = self._output_arrays = self._handed_on = {}
        self._input_array = self.invoke = self.interpreter = None
