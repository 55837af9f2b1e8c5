"""Fuzz: 500 seeded mutations of a real bundle (manifest fields dropped, retyped, out of
range; stage files truncated, bit-flipped, swapped, replaced, checksums updated) through
`Cascade` and `mexit eval/predict/bench/calibrate`: every one answered or refused in one
line, no crash, no traceback, nothing written outside the output folder."""

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

CASES = 500


def test_mutated_bundles_are_answered_or_refused_in_one_line(bundle, tmp_path):
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b", "c"):
        (images / label).mkdir(parents=True)
        for index in range(4):
            Image.fromarray(rng.integers(0, 256, (8, 8)).astype("uint8")).save(
                images / label / f"{index}.png")
    work = tmp_path / "work"
    work.mkdir()
    script = Path(__file__).with_name("bundle_fuzz.py")
    done = subprocess.run([sys.executable, str(script), str(bundle), str(images), str(work),
                           str(CASES), "20261206"], capture_output=True, text=True,
                          timeout=1200, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    last = rows[-1] if rows else None
    assert done.returncode == 0, f"the fuzz process died ({done.returncode}) after {last}: " \
                                 f"{done.stderr[-2000:]}"
    assert len(rows) == CASES
    broken = [row for row in rows if row["outcome"] == "broken"]
    assert not broken, json.dumps(broken[:5], indent=1)
    outcomes = collections.Counter((row["command"], row["outcome"]) for row in rows)
    # Both kinds occur for every command: the mutations reach past the first check.
    for command in ("cascade", "eval", "predict", "bench", "calibrate"):
        assert outcomes[(command, "refused")] > 10, outcomes
        assert outcomes[(command, "answered")] > 0, outcomes
