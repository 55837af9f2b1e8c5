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
        # A callable that returns a view of the hidden output buffer (no copy).
        self._hidden_view = (self.interpreter.tensor(self._outputs["hidden"])
                             if "hidden" in self._outputs else None)

    def run(self, x: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
        """Returns `({role: array}, milliseconds)`; the time covers copy-in, invoke, copy-out."""
        started = time.perf_counter()
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        outputs = {role: self.interpreter.get_tensor(index) for role, index in
                   self._outputs.items()}
        return outputs, (time.perf_counter() - started) * 1000.0

    def run_chained(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        """`run` for stage-to-stage use: `(logits, hidden, milliseconds)`.

        `hidden` is a view of this stage's output buffer, not a copy: feed it to
        the next stage, and let it go before this stage runs again (LiteRT
        refuses to invoke while a view of its buffers is alive). It saves one
        copy of the tokens per stage.
        """
        started = time.perf_counter()
        self.interpreter.set_tensor(self._input["index"], x)
        self.interpreter.invoke()
        logits = self.interpreter.get_tensor(self._outputs["logits"])
        hidden = self._hidden_view() if self._hidden_view is not None else None
        return logits, hidden, (time.perf_counter() - started) * 1000.0

    def median_latency_ms(self, x: np.ndarray, runs: int = 50, warmup: int = 5) -> float:
        for _ in range(warmup):
            self.run(x)
        return float(np.median([self.run(x)[1] for _ in range(runs)]))
