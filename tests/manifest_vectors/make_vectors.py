"""Writes the shared manifest test vectors (vectors.json, text_vectors.json) beside this file.

One valid base manifest (3 stages, 10 labels, shaped like converters/bundle_export.py
writes one), then one change per vector: valid variants (every policy type) and one
violation each of the JSON Schema (mexit_tf/runtime/manifest.schema.json) and of the
rules checked in code (R1-R5, see mexit_tf/runtime/manifest.py and Manifest.kt).

vectors.json: [{"name", "manifest", "error_field"}]: `error_field` is null for a
manifest every reader accepts, else the field path (`stages[0].file`,
`policy.thresholds[1]`, ...) that the one-line refusal must contain.
text_vectors.json: [{"name", "text"}]: manifest *texts* that no reader may parse
(NaN literals, runaway nesting, ...), refused in one line, never a crash.

Both readers run them: tests/test_manifest_vectors.py (Python's validate_manifest) and
the Kotlin core's ManifestVectorsTest (through tests/test_kotlin_core.py).
Regenerate with `python tests/manifest_vectors/make_vectors.py` (deterministic).
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
SHA = "0123456789abcdef" * 4
LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
          "Sneaker", "Bag", "Ankle boot"]
HIDDEN = [1, 50, 64]


def _stage(index: int, last: bool, classes: int = 10) -> dict:
    first = index == 0
    outputs = [{"role": "logits", "name": "Identity", "shape": [1, classes], "dtype": "float32"}]
    if not last:
        outputs.append({"role": "hidden", "name": "Identity_1", "shape": list(HIDDEN),
                        "dtype": "float32"})
    return {
        "index": index, "file": f"stage_{index}.tflite", "sha256": SHA, "bytes": 65536 + index,
        "exit": "final" if last else f"exit_{index + 1}", "after_block": 2 * index + 1,
        "head": None if last else "mlp_ee",
        "inputs": [{"name": "image", "shape": [1, 28, 28, 1], "dtype": "float32"} if first else
                   {"name": "hidden_in", "shape": list(HIDDEN), "dtype": "float32"}],
        "outputs": outputs,
        "cost": {"params": 40000 + index, "macs": 2000000 + index, "latency_ms": 0.2 + 0.01 * index},
        "delegation": {"partitions": 1},
    }


def base() -> dict:
    return {
        "format_version": 1,
        "created": "2026-12-06T00:00:00+00:00",
        "task": "classification",
        "output": "logits",
        "input": {"name": "image", "shape": [1, 28, 28, 1], "dtype": "float32", "layout": "NHWC",
                  "value_range": [0.0, 255.0], "preprocessing": "none: feed raw pixel values",
                  "pixel_scale": 1 / 255, "pixel_offset": 0.0, "resize": "bilinear-half-pixel"},
        "labels": list(LABELS),
        "quantization": "float32",
        "int8_ranges": None,
        "hidden": {"dtype": "float32", "shape": list(HIDDEN), "shapes": [HIDDEN, HIDDEN]},
        "stages": [_stage(k, k == 2) for k in range(3)],
        "policy": {"type": "confidence", "thresholds": [0.9, 0.8]},
        "calibration": {"expected_accuracy": 0.89, "operating_points": [
            {"label": "at most 1 point below the final exit",
             "policy": {"type": "confidence", "thresholds": [0.8, 0.7]},
             "expected_accuracy": 0.88, "expected_speedup": 2.5}]},
        "parity": {"exit_1": {"max_relative_error": 4e-7, "top1_agreement": 1.0}},
        "data_source": "Debian package dataset-fashion-mnist, validation split",
        "versions": {"python": "3.11.7", "mexit_tf": "0.1.0"},
    }


def regression(output: str = "value") -> dict:
    """The base as a counting bundle: one value per exit (or mean + log-variance)."""
    m = base()
    m["task"], m["output"], m["labels"] = "regression", output, []
    for stage in m["stages"]:
        stage["outputs"][0]["shape"] = [1, 2 if output == "mean_log_variance" else 1]
    m["calibration"] = {}
    return m


def audiovisual() -> dict:
    """The base as an audio-visual bundle, as the exporter writes one: the stage of the
    first audio-visual exit reads the waveform and hands on an `audio_token` (no
    `hidden`); the final stage reads the last `hidden` and that token."""
    m = base()
    m["input"] = {"name": None, "kind": "audiovisual", "shape": [1, 28, 28, 1], "parts": [
        {"name": "image", "kind": "image", "shape": [1, 28, 28, 1], "value_range": [0.0, 255.0]},
        {"name": "waveform", "kind": "audio", "shape": [1, 544], "value_range": [-1.0, 1.0],
         "sample_rate": 8000, "channels": 1}]}
    stages = [_stage(k, False) for k in range(3)] + [_stage(3, True)]
    stages[2]["inputs"].append({"name": "waveform", "shape": [1, 544], "dtype": "float32"})
    stages[2]["outputs"][1] = {"role": "audio_token", "name": "Identity_1", "shape": [1, 1, 64],
                               "dtype": "float32"}
    stages[3]["inputs"].append({"name": "audio_token_in", "shape": [1, 1, 64], "dtype": "float32"})
    for stage in stages[2:]:
        stage["uses_audio"] = True
    stages[2]["runs_audio_branch"] = True
    m["stages"], m["policy"] = stages, {"type": "confidence", "thresholds": [0.9, 0.8, 0.7]}
    m["calibration"] = {}
    return m


def nested(depth: int):
    """A value that is `depth` containers deep (alternating lists and objects)."""
    value = 1
    for level in range(depth):
        value = [value] if level % 2 == 0 else {"d": value}
    return value


def _vectors():
    out = []

    def add(name, error_field, change=None, start=None):
        m = start() if start else base()
        if change:
            change(m)
        out.append({"name": name, "manifest": m, "error_field": error_field})

    def set_(path, value):
        """A change that sets the field at `path` (keys and indices) to `value`."""
        def change(m):
            target = m
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        return change

    def drop(path):
        def change(m):
            target = m
            for part in path[:-1]:
                target = target[part]
            del target[path[-1]]
        return change

    def both(*changes):
        def change(m):
            for c in changes:
                c(m)
        return change

    # --- accepted by every reader -------------------------------------------------------
    add("valid base (confidence)", None)
    add("valid entropy", None, set_(["policy"], {"type": "entropy", "thresholds": [0.4, 1.5]}))
    add("valid margin", None, set_(["policy"], {"type": "margin", "thresholds": [0.5, 0.0]}))
    add("valid patience", None, set_(["policy"], {"type": "patience", "patience": 2, "num_exits": 3}))
    add("valid budget", None, set_(["policy"], {"type": "budget", "budget": 0.5,
                                                "stage_costs": [0.2, 0.21, 0.22], "unit": "ms"}))
    add("valid agreement (regression)", None,
        set_(["policy"], {"type": "agreement", "thresholds": [0.5]}), regression)
    add("valid std (regression, mean and log-variance)", None,
        set_(["policy"], {"type": "std", "thresholds": [0.3, 0.6]}),
        lambda: regression("mean_log_variance"))
    add("valid confidence thresholds at the range ends", None,
        set_(["policy", "thresholds"], [0.0, 1.0]))
    add("valid without labels", None, set_(["labels"], []))
    add("valid with fields this reader does not know", None,
        both(set_(["x_note"], {"anything": [1, 2]}), set_(["stages", 0, "x_extra"], "ok")))
    add("valid one-stage bundle", None, both(
        set_(["stages"], [_stage(0, True)]), set_(["policy"], {"type": "confidence", "thresholds": []}),
        set_(["calibration"], {})))
    add("valid latency 0 ms", None, set_(["stages", 1, "cost", "latency_ms"], 0))
    add("valid tensor of exactly 2^26 elements", None,
        set_(["stages", 2, "inputs", 0, "shape"], [1, 65536, 1024]))
    add("valid nesting of exactly 64 levels", None, set_(["calibration", "deep"], nested(62)))

    def minimal(m):
        for key in ("created", "task", "output", "int8_ranges", "hidden", "calibration", "parity",
                    "data_source", "versions"):
            del m[key]
        m["input"] = {"shape": [1, 28, 28, 1]}
        for stage in m["stages"]:
            for key in ("index", "bytes", "after_block", "head", "delegation"):
                del stage[key]
            stage["cost"] = {"latency_ms": 0.25}
            for tensor in stage["inputs"] + stage["outputs"]:
                del tensor["dtype"]
    add("valid minimal (required fields only)", None, minimal)
    add("valid audio-visual bundle (a stage hands on an audio_token, no hidden)", None,
        start=audiovisual)
    # JSON Schema's integers are numbers with no fraction: 2.0 is one (Kotlin cannot tell them apart).
    add("valid integers written with a fraction of zero", None, both(
        set_(["policy"], {"type": "patience", "patience": 2.0, "num_exits": 3.0}),
        set_(["stages", 0, "inputs", 0, "shape"], [1.0, 28, 28, 1]), set_(["format_version"], 1.0)))
    add("valid audio input", None, set_(["input"], {"kind": "audio", "name": "waveform",
                                                     "shape": [1, 8320], "value_range": [-1.0, 1.0],
                                                     "sample_rate": 8000}))

    # --- the JSON Schema ------------------------------------------------------------------
    add("an unknown resize rule", "input.resize", set_(["input", "resize"], "lanczos"))
    add("format_version 2", "format_version", set_(["format_version"], 2))
    add("format_version missing", "format_version", drop(["format_version"]))
    add("format_version a string", "format_version", set_(["format_version"], "1"))
    add("format_version true", "format_version", set_(["format_version"], True))
    add("no stages", "stages", drop(["stages"]))
    add("empty stages", "stages", set_(["stages"], []))
    add("stage that is not an object", "stages[1]", set_(["stages", 1], "stage_1.tflite"))
    add("stage file climbs out (../x)", "stages[0].file", set_(["stages", 0, "file"], "../x"))
    add("stage file absolute", "stages[1].file", set_(["stages", 1, "file"], "/etc/passwd"))
    add("stage file in a folder", "stages[0].file", set_(["stages", 0, "file"], "a/b"))
    add("stage file with a backslash", "stages[0].file", set_(["stages", 0, "file"], "a\\b.tflite"))
    add("stage file hidden", "stages[2].file", set_(["stages", 2, "file"], ".hidden"))
    add("stage file '..'", "stages[0].file", set_(["stages", 0, "file"], ".."))
    add("stage file empty", "stages[0].file", set_(["stages", 0, "file"], ""))
    add("stage file with a drive letter", "stages[0].file", set_(["stages", 0, "file"], "C:x.tflite"))
    add("stage file ending in a newline", "stages[0].file",
        set_(["stages", 0, "file"], "stage_0.tflite\n"))
    add("stage file 129 characters", "stages[0].file", set_(["stages", 0, "file"], "s" * 129))
    add("stage file a number", "stages[0].file", set_(["stages", 0, "file"], 7))
    add("stage file missing", "stages[1].file", drop(["stages", 1, "file"]))
    add("sha256 in capitals", "stages[0].sha256", set_(["stages", 0, "sha256"], SHA.upper()))
    add("sha256 too short", "stages[0].sha256", set_(["stages", 0, "sha256"], SHA[:63]))
    add("sha256 missing", "stages[2].sha256", drop(["stages", 2, "sha256"]))
    add("latency missing", "stages[1].cost.latency_ms", drop(["stages", 1, "cost", "latency_ms"]))
    add("latency a word", "stages[1].cost.latency_ms", set_(["stages", 1, "cost", "latency_ms"], "fast"))
    add("latency negative", "stages[1].cost.latency_ms", set_(["stages", 1, "cost", "latency_ms"], -1))
    add("latency over an hour", "stages[0].cost.latency_ms",
        set_(["stages", 0, "cost", "latency_ms"], 3600001))
    add("latency null", "stages[0].cost.latency_ms", set_(["stages", 0, "cost", "latency_ms"], None))
    add("cost missing", "stages[2].cost", drop(["stages", 2, "cost"]))
    add("macs negative", "stages[0].cost.macs", set_(["stages", 0, "cost", "macs"], -5))
    add("exit a number where a name belongs", "stages[0].exit", set_(["stages", 0, "exit"], 3))
    add("exit empty", "stages[1].exit", set_(["stages", 1, "exit"], ""))
    add("tensor name a number", "stages[0].inputs[0].name", set_(["stages", 0, "inputs", 0, "name"], 12))
    add("tensor without a shape", "stages[1].outputs[1].shape", drop(["stages", 1, "outputs", 1, "shape"]))
    add("negative dimension", "stages[0].outputs[0].shape[0]",
        set_(["stages", 0, "outputs", 0, "shape"], [-1, 10]))
    add("zero dimension", "stages[0].outputs[1].shape[1]",
        set_(["stages", 0, "outputs", 1, "shape"], [1, 0, 64]))
    add("huge dimension", "stages[1].inputs[0].shape[2]",
        set_(["stages", 1, "inputs", 0, "shape"], [1, 50, 1048577]))
    add("fractional dimension", "stages[1].inputs[0].shape[1]",
        set_(["stages", 1, "inputs", 0, "shape"], [1, 50.5, 64]))
    add("empty shape", "stages[0].inputs[0].shape", set_(["stages", 0, "inputs", 0, "shape"], []))
    add("shape of 7 dimensions", "stages[0].inputs[0].shape",
        set_(["stages", 0, "inputs", 0, "shape"], [1] * 7))
    add("shape a string", "stages[0].inputs[0].shape", set_(["stages", 0, "inputs", 0, "shape"], "1x28x28"))
    add("dtype int8", "stages[0].inputs[0].dtype", set_(["stages", 0, "inputs", 0, "dtype"], "int8"))
    add("unknown output role", "stages[0].outputs[0].role",
        set_(["stages", 0, "outputs", 0, "role"], "probabilities"))
    add("output without a role", "stages[2].outputs[0].role", drop(["stages", 2, "outputs", 0, "role"]))
    add("five inputs", "stages[1].inputs",
        set_(["stages", 1, "inputs"], [{"name": f"x{i}", "shape": [1]} for i in range(5)]))
    add("no outputs", "stages[2].outputs", set_(["stages", 2, "outputs"], []))
    add("stage index 64", "stages[0].index", set_(["stages", 0, "index"], 64))
    add("stage bytes 0", "stages[0].bytes", set_(["stages", 0, "bytes"], 0))
    add("uses_audio a word", "stages[0].uses_audio", set_(["stages", 0, "uses_audio"], "yes"))
    add("head a number", "stages[0].head", set_(["stages", 0, "head"], 5))
    add("delegation a list", "stages[0].delegation", set_(["stages", 0, "delegation"], []))
    add("labels not a list", "labels", set_(["labels"], "cats and dogs"))
    add("labels missing", "labels", drop(["labels"]))
    add("label a number", "labels[3]", set_(["labels", 3], 3))
    add("label with a newline inside", "labels[6]", set_(["labels", 6], "Shi\nrt"))
    add("label ending in a newline", "labels[6]", set_(["labels", 6], "Shirt\n"))
    add("label with an escape character", "labels[0]", set_(["labels", 0], "\u001b[31mred"))
    add("label with DEL", "labels[9]", set_(["labels", 9], "boot\u007f"))
    add("label 257 characters", "labels[0]", set_(["labels", 0], "x" * 257))
    add("quantization unknown", "quantization", set_(["quantization"], "int4"))
    add("task unknown", "task", set_(["task"], "detection"))
    add("output unknown", "output", set_(["output"], "probabilities"))
    add("int8_ranges unknown", "int8_ranges", set_(["int8_ranges"], "dynamic"))
    add("created too long", "created", set_(["created"], "2026" * 17))
    add("data_source a number", "data_source", set_(["data_source"], 42))
    add("calibration a list", "calibration", set_(["calibration"], [1, 2]))
    add("versions a string", "versions", set_(["versions"], "3.11"))
    add("hidden a list", "hidden", set_(["hidden"], [1, 50, 64]))
    add("input missing", "input", drop(["input"]))
    add("input not an object", "input", set_(["input"], [1, 28, 28, 1]))
    add("input shape missing", "input.shape", drop(["input", "shape"]))
    add("input value_range of three", "input.value_range", set_(["input", "value_range"], [0, 1, 2]))
    add("input value_range beyond 1e300", "input.value_range[1]", set_(["input", "value_range"], [0, 1e301]))
    add("input kind unknown", "input.kind", set_(["input", "kind"], "video"))
    add("input sample_rate 0", "input.sample_rate", set_(["input", "sample_rate"], 0))
    add("input channels 5", "input.channels", set_(["input", "channels"], 5))
    add("input parts empty", "input.parts", set_(["input", "parts"], []))
    add("input part without a shape", "input.parts[1].shape",
        set_(["input", "parts"], [{"name": "image", "shape": [1, 28, 28, 1]}, {"name": "waveform"}]))
    add("policy missing", "policy", drop(["policy"]))
    add("policy not an object", "policy", set_(["policy"], [0.9, 0.8]))
    add("policy type unknown", "policy.type", set_(["policy", "type"], "softmax-ish"))
    add("policy type missing", "policy.type", drop(["policy", "type"]))
    add("confidence without thresholds", "policy.thresholds", drop(["policy", "thresholds"]))
    add("threshold a string", "policy.thresholds[0]", set_(["policy", "thresholds", 0], "0.9"))
    add("threshold true", "policy.thresholds[1]", set_(["policy", "thresholds", 1], True))
    add("threshold beyond 1e300", "policy.thresholds[0]",
        set_(["policy"], {"type": "entropy", "thresholds": [1e301, 0.5]}))
    add("patience without num_exits", "policy.num_exits",
        set_(["policy"], {"type": "patience", "patience": 2}))
    add("patience 0", "policy.patience", set_(["policy"], {"type": "patience", "patience": 0, "num_exits": 3}))
    add("patience 1.5", "policy.patience",
        set_(["policy"], {"type": "patience", "patience": 1.5, "num_exits": 3}))
    add("budget without budget", "policy.budget",
        set_(["policy"], {"type": "budget", "stage_costs": [1, 1, 1]}))
    add("budget negative", "policy.budget",
        set_(["policy"], {"type": "budget", "budget": -1, "stage_costs": [1, 1, 1]}))
    add("budget cost negative", "policy.stage_costs[1]",
        set_(["policy"], {"type": "budget", "budget": 1, "stage_costs": [1, -1, 1]}))
    add("budget unit too long", "policy.unit",
        set_(["policy"], {"type": "budget", "budget": 1, "stage_costs": [1, 1, 1], "unit": "m" * 17}))

    # --- R1: roles ------------------------------------------------------------------------
    add("stage without logits", "stages[1].outputs", set_(["stages", 1, "outputs", 0, "role"], "hidden"))
    add("stage with two logits", "stages[2].outputs",
        set_(["stages", 2, "outputs"], [{"role": "logits", "name": "a", "shape": [1, 10]},
                                        {"role": "logits", "name": "b", "shape": [1, 10]}]))
    add("early stage that hands nothing on", "stages[0].outputs",
        set_(["stages", 0, "outputs"], [{"role": "logits", "name": "Identity", "shape": [1, 10]}]))
    add("audio-visual stage that hands nothing on", "stages[2].outputs",
        set_(["stages", 2, "outputs"], [{"role": "logits", "name": "Identity", "shape": [1, 10]}]),
        audiovisual)
    # --- R2: element counts ---------------------------------------------------------------
    add("tensor of 2^26 + 1024 elements", "stages[0].outputs[1].shape",
        set_(["stages", 0, "outputs", 1, "shape"], [1, 65536, 1025]))
    add("112 GiB of hidden tokens", "stages[1].inputs[0].shape",
        set_(["stages", 1, "inputs", 0, "shape"], [1, 1048576, 1048576, 28]))
    add("input of more than 2^26 elements", "input.shape",
        set_(["input", "shape"], [1, 8192, 8193, 1]))
    # --- R3: classes and labels -----------------------------------------------------------
    add("exits answer different classes", "stages[2].outputs[0].shape",
        set_(["stages", 2, "outputs", 0, "shape"], [1, 11]))
    add("nine labels for ten classes", "labels", set_(["labels"], LABELS[:9]))
    add("eleven labels for ten classes", "labels", set_(["labels"], LABELS + ["Hat"]))
    # --- R4: the policy covers the stages -------------------------------------------------
    add("confidence with three thresholds", "policy.thresholds",
        set_(["policy", "thresholds"], [0.9, 0.8, 0.7]))
    add("confidence with one threshold", "policy.thresholds", set_(["policy", "thresholds"], [0.9]))
    add("confidence threshold above 1", "policy.thresholds[1]", set_(["policy", "thresholds"], [0.9, 1.5]))
    add("confidence threshold below 0", "policy.thresholds[0]", set_(["policy", "thresholds"], [-0.1, 0.5]))
    add("margin threshold above 1", "policy.thresholds[0]",
        set_(["policy"], {"type": "margin", "thresholds": [1.2, 0.5]}))
    add("entropy threshold below 0", "policy.thresholds[1]",
        set_(["policy"], {"type": "entropy", "thresholds": [0.5, -0.5]}))
    add("std threshold below 0", "policy.thresholds[0]",
        set_(["policy"], {"type": "std", "thresholds": [-1, 0.5]}), lambda: regression("mean_log_variance"))
    add("agreement with K-1 thresholds", "policy.thresholds",
        set_(["policy"], {"type": "agreement", "thresholds": [0.5, 0.5]}), regression)
    add("agreement threshold below 0", "policy.thresholds[0]",
        set_(["policy"], {"type": "agreement", "thresholds": [-0.5]}), regression)
    add("budget costs for two stages", "policy.stage_costs",
        set_(["policy"], {"type": "budget", "budget": 1, "stage_costs": [1, 1]}))
    add("patience over four exits", "policy.num_exits",
        set_(["policy"], {"type": "patience", "patience": 2, "num_exits": 4}))
    # --- R5: nesting ----------------------------------------------------------------------
    add("nesting of 65 levels", "calibration", set_(["calibration", "deep"], nested(63)))
    add("nesting of 200 levels", "parity", set_(["parity", "deep"], nested(198)))
    return out


def _changed(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _text_vectors():
    valid = json.dumps(base())
    return [
        {"name": "NaN threshold", "text": _changed(valid, '"thresholds": [0.9, 0.8]', '"thresholds": [NaN, 0.8]')},
        {"name": "Infinity latency", "text": _changed(valid, '"latency_ms": 0.2', '"latency_ms": Infinity')},
        {"name": "-Infinity value_range", "text": _changed(valid, "[0.0, 255.0]", "[-Infinity, 255.0]")},
        {"name": "number that overflows to infinity", "text":
            _changed(valid, '"latency_ms": 0.2', '"latency_ms": 1e400')},
        {"name": "5000 nested lists", "text": valid[:-1] + ', "deep": ' + "[" * 5000 + "]" * 5000 + "}"},
        {"name": "5000 nested objects", "text":
            valid[:-1] + ', "deep": ' + '{"a":' * 5000 + "1" + "}" * 5000 + "}"},
        {"name": "unterminated nesting", "text": valid[:-1] + ', "deep": ' + "[" * 5000},
        {"name": "trailing text", "text": valid + " {}"},
        {"name": "raw control character in a string", "text": _changed(valid, "Trouser", "Trou\u0001ser")},
        {"name": "bad escape", "text": _changed(valid, "Trouser", "Trou\\xser")},
        {"name": "bad unicode escape", "text": _changed(valid, "Trouser", "Trou\\u12G4ser")},
        {"name": "single quotes", "text": _changed(valid, '"Trouser"', "'Trouser'")},
        {"name": "leading zero", "text": _changed(valid, '"format_version": 1', '"format_version": 01')},
        {"name": "empty text", "text": ""},
        {"name": "a list, not an object", "text": "[" + valid + "]"},
        {"name": "truncated", "text": valid[: len(valid) // 2]},
    ]


def write(folder: Path = HERE) -> tuple[list, list]:
    vectors, texts = _vectors(), _text_vectors()
    names = [v["name"] for v in vectors] + [t["name"] for t in texts]
    assert len(names) == len(set(names)), "vector names must be unique"
    for file, items in (("vectors.json", vectors), ("text_vectors.json", texts)):
        # One vector a line: a diff shows which vectors changed.
        lines = ",\n".join(json.dumps(item, allow_nan=False) for item in items)
        (folder / file).write_text("[\n" + lines + "\n]\n")
    return vectors, texts


if __name__ == "__main__":
    v, t = write()
    print(f"{len(v)} manifest vectors ({sum(x['error_field'] is None for x in v)} valid), "
          f"{len(t)} text vectors written to {HERE}")
