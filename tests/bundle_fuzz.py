"""Seeded mutations of a real bundle, run through `Cascade` and the `mexit` commands that read
bundles. Used by tests/test_bundle_fuzz.py in a child process, so that a native crash
is reported (with the mutation that caused it) instead of taking the test run down.

    python tests/bundle_fuzz.py BUNDLE IMAGES_FOLDER WORK_FOLDER COUNT SEED

Prints one JSON line per case: {"case", "mutation", "outcome", "detail"} where outcome is
"answered", "refused" (one-line MexitError / exit status 2) or "broken" (anything else: a
traceback, several lines, a file written outside the output folder).
"""

import contextlib
import copy
import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from mexit_tf.cli.main import main
from mexit_tf.errors import MexitError
from mexit_tf.runtime import Cascade

COMMANDS = ("cascade", "eval", "predict", "bench", "calibrate")
ODD_VALUES = [None, True, -1, 0, 1e308, 2**63, -(2**31), "", "../../x", "a\nb", [], {}, [[1]],
              "x" * 300, 0.5, [1, -1], {"type": "confidence"}]


def field_paths(value, path=()):
    """Every (path, value) inside a JSON value."""
    yield path, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from field_paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from field_paths(child, (*path, index))


def _parent(manifest, path):
    for key in path[:-1]:
        manifest = manifest[key]
    return manifest


def mutate_manifest(manifest, rng) -> str:
    paths = [path for path, _ in field_paths(manifest) if path]
    path = paths[rng.integers(len(paths))]
    parent, key = _parent(manifest, path), path[-1]
    kind = rng.integers(3)
    if kind == 0:
        del parent[key]
        return f"dropped {list(path)}"
    if kind == 1:
        parent[key] = copy.deepcopy(ODD_VALUES[rng.integers(len(ODD_VALUES))])
        return f"retyped {list(path)} to {json.dumps(parent[key])[:40]}"
    value = parent[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        parent[key] = -1
    else:
        parent[key] = value * float(rng.choice([-1, 0, 1e6, 1e-9, 3]))
    return f"scaled {list(path)} to {parent[key]!r}"


def mutate_stage(folder, manifest, rng) -> str:
    stages = manifest["stages"]
    index = int(rng.integers(len(stages)))
    file = folder / stages[index]["file"]
    data = bytearray(file.read_bytes())
    kind = rng.integers(4)
    if kind == 0:
        data = data[: int(rng.integers(1, len(data)))]
        what = f"truncated stage {index} to {len(data)} bytes"
    elif kind == 1:
        for offset in rng.integers(0, len(data), int(rng.integers(1, 64))):
            data[offset] ^= 1 << int(rng.integers(8))
        what = f"flipped bits in stage {index}"
    elif kind == 2:
        other = stages[int(rng.integers(len(stages)))]["file"]
        data = bytearray((folder / other).read_bytes())
        what = f"stage {index} swapped for {other}"
    else:
        data = bytearray(rng.integers(0, 256, int(rng.integers(8, 4096)), dtype=np.uint8))
        what = f"stage {index} replaced by random bytes"
    file.write_bytes(bytes(data))
    if rng.random() < 0.9:  # a careful forger updates the checksum and size
        stages[index]["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
        stages[index]["bytes"] = len(data)
        what += ", checksum updated"
    return what


def _listing(folder, skip) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if skip not in p.relative_to(folder).parts}


def run_command(command, bundle, images, out) -> tuple[str, str]:
    """(outcome, detail) of one command on one bundle."""
    if command == "cascade":
        try:
            with Cascade(bundle) as cascade:
                cascade.predict(np.zeros(cascade.input_shape, np.float32))
            return "answered", ""
        except MexitError as error:
            message = str(error)
            return ("refused" if "\n" not in message else "broken"), message
    argv = {"eval": ["eval", str(bundle), "--data", f"folder:{images}", "--limit", "4"],
            "predict": ["predict", str(bundle), str(next(images.rglob("*.png")))],
            "bench": ["bench", str(bundle), "--runs", "2"],
            "calibrate": ["calibrate", str(bundle), "--data", f"folder:{images}", "--out",
                          str(out / "recalibrated"), "--overwrite"]}[command]
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(argv)
    except BaseException as error:  # noqa: BLE001 - anything but a status is a failure here
        return "broken", f"{type(error).__name__}: {error}"[:300]
    text = stderr.getvalue()
    errors = [line for line in text.splitlines() if line.startswith(f"mexit {command}: error:")]
    if "Traceback" in text:
        return "broken", text[-300:]
    if status == 0:
        return "answered", ""
    if status == 2 and len(errors) == 1:
        return "refused", errors[0]
    return "broken", f"status {status}: {text[-300:]}"


def main_fuzz(bundle, images, work, count, seed):
    bundle, images, work = Path(bundle), Path(images), Path(work)
    rng = np.random.default_rng(seed)
    original = json.loads((bundle / "manifest.json").read_text())
    for case in range(count):
        folder = work / "bundle"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(bundle, folder)
        manifest = copy.deepcopy(original)
        mutation = (mutate_stage(folder, manifest, rng) if rng.random() < 0.4 else
                    mutate_manifest(manifest, rng))
        (folder / "manifest.json").write_text(json.dumps(manifest))
        command = COMMANDS[case % len(COMMANDS)]
        out = work / "out"
        out.mkdir(exist_ok=True)
        before = _listing(work.parent, "out")
        outcome, detail = run_command(command, folder, images, out)
        written = _listing(work.parent, "out") - before
        if written:
            outcome, detail = "broken", f"wrote outside the output folder: {sorted(written)}"
        print(json.dumps({"case": case, "command": command, "mutation": mutation,
                          "outcome": outcome, "detail": detail}), flush=True)


if __name__ == "__main__":
    main_fuzz(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
