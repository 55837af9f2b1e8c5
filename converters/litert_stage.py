import time
from pathlib import Path

import numpy as np

from mexit_tf.errors import MexitError


class LiteRTStage:
    """One exported stage on the LiteRT interpreter; outputs mapped by role.

    `spec` is the stage's manifest entry (its `outputs` name each tensor's
    role: `logits` or `hidden`). Without one (at export), roles follow the
    order the stage returns them in: `(logits, hidden)`, and `spec` is filled in.
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
        self._input = self.interpreter.get_input_details()[0]
        if "outputs" not in spec:
            details = self.interpreter.get_output_details()
            roles = ["logits", "hidden"][:len(details)]
            spec["outputs"] = [{"role": role, "name": d["name"], "shape": d["shape"].tolist(),
                                "dtype": np.dtype(d["dtype"]).name}
                               for role, d in zip(roles, details, strict=True)]
            spec["inputs"] = [{"name": d["name"], "shape": d["shape"].tolist(),
                               "dtype": np.dtype(d["dtype"]).name}
                              for d in self.interpreter.get_input_details()]
        self.spec = spec
        by_name = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self._outputs = {o["role"]: by_name[o["name"]] for o in spec["outputs"]}
        # Persistent views of the input and output buffers: a stage is fed and read
        # with no call into the interpreter and no allocation per run. LiteRT's
        # public invoke() refuses to run while such views exist, because
        # allocate_tensors() may move the buffers; a stage never reallocates after
        # loading, so it invokes the wrapped interpreter directly.
        self._input_array = self.interpreter.tensor(self._input["index"])()
        self._output_arrays = {role: self.interpreter.tensor(index)()
                               for role, index in self._outputs.items()}
        self._hidden_array = self._output_arrays.get("hidden")
        self.invoke = self.interpreter._interpreter.Invoke

    def _feed(self, x: np.ndarray) -> None:
        if x.shape != self._input_array.shape:
            raise MexitError(f"Stage {self.spec.get('file', '?')!r} takes input of shape "
                             f"{self._input_array.shape}; received {x.shape}.")
        np.copyto(self._input_array, x, casting="same_kind")

    def run(self, x: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """Returns `({role: array}, milliseconds)`; the time covers copy-in, invoke, copy-out."""
        started = time.perf_counter()
        self._feed(x)
        self.invoke()
        outputs = {role: array.copy() for role, array in self._output_arrays.items()}
        return outputs, (time.perf_counter() - started) * 1000.0

    def run_chained(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        """`run` for stage-to-stage use: `(logits, hidden, milliseconds)`.

        `hidden` is this stage's output buffer itself, not a copy: feed it to
        the next stage before this stage runs again, which overwrites it. It
        saves one copy of the tokens per stage.
        """
        started = time.perf_counter()
        self._feed(x)
        self.invoke()
        logits = self._output_arrays["logits"].copy()
        return logits, self._hidden_array, (time.perf_counter() - started) * 1000.0

    def median_latency_ms(self, x: np.ndarray, runs: int = 50, warmup: int = 5) -> float:
        for _ in range(warmup):
            self.run(x)
        return float(np.median([self.run(x)[1] for _ in range(runs)]))
