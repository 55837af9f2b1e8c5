"""A bundle is untrusted input: one contract before anything is read, stage files kept inside
their folder and checked against the manifest before LiteRT sees them, one owner for a
cascade's state."""

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_images

import mexit_tf
from mexit_tf.runtime import Cascade
from mexit_tf.runtime.manifest import MANIFEST_NAME, read_manifest, sha256_of


def _copy(bundle, tmp_path, name="copy"):
    return shutil.copytree(bundle, tmp_path / name)


def _edit(path, change):
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    change(manifest)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))


def _rewrite_stage(path, index, data):
    """Replaces stage `index`'s bytes and updates its checksum, as a careful forger would."""
    file = path / f"stage_{index}.tflite"
    file.write_bytes(data)
    _edit(path, lambda m: m["stages"][index].update(sha256=sha256_of(file), bytes=len(data)))


@pytest.mark.parametrize("name", ["../outside.tflite", "/etc/passwd", "sub/stage.tflite",
                                  ".hidden", "..", "C:stage"])
def test_stage_file_names_that_leave_the_bundle_are_refused_before_any_read(bundle, tmp_path,
                                                                            name):
    path = _copy(bundle, tmp_path)
    (tmp_path / "outside.tflite").write_bytes((path / "stage_0.tflite").read_bytes())
    _edit(path, lambda m: m["stages"][0].update(file=name))
    with pytest.raises(mexit_tf.MexitError, match=r"stages\[0\]\.file must be a plain file name"):
        read_manifest(path)


def test_a_stage_file_linked_outside_the_bundle_is_refused(bundle, tmp_path):
    path = _copy(bundle, tmp_path)
    outside = tmp_path / "elsewhere.tflite"
    shutil.move(path / "stage_1.tflite", outside)
    os.symlink(outside, path / "stage_1.tflite")
    with pytest.raises(mexit_tf.MexitError, match="leads outside the bundle"):
        Cascade(path)


@pytest.mark.parametrize("change, message", [
    (lambda m: m["stages"][1]["cost"].pop("latency_ms"),
     r"stages\[1\]\.cost\.latency_ms is missing"),
    (lambda m: m["stages"][1]["cost"].update(latency_ms="fast"),
     r"stages\[1\]\.cost\.latency_ms must be of type number; received 'fast'"),
    (lambda m: m["stages"].__setitem__(2, 7), r"stages\[2\] must be of type object; received 7"),
    (lambda m: m["stages"][0]["outputs"][0].update(name=5), r"stages\[0\]\.outputs\[0\]\.name"),
    (lambda m: m["stages"][0]["inputs"][0].update(shape=[1, -8, 8, 1]),
     r"stages\[0\]\.inputs\[0\]\.shape\[1\]"),
    (lambda m: m["stages"][0]["inputs"][0].update(shape=[1, 1 << 20, 1 << 20, 1]),
     r"stages\[0\]\.inputs\[0\]\.shape .* more than"),
    (lambda m: m["stages"][3]["outputs"].pop(0) if m["stages"][3]["outputs"][0]["role"] == "logits"
     else m["stages"][3]["outputs"].pop(1), r"stages\[3\]\.outputs must hold one 'logits'"),
    (lambda m: m.update(labels=["a", "b"]), "labels holds 2 names but the logits have 3"),
    (lambda m: m.update(labels=["a", "b\nc", "d"]), r"labels\[1\]"),
    (lambda m: m["policy"].update(type="confidence", thresholds=[0.5] * 3),
     r"policy\.thresholds holds 3 values; a confidence policy over 9 stages takes 8"),
    (lambda m: m.update(format_version=2), "format_version is 2"),
    (lambda m: m.update(policy={"type": "oracle"}), r"policy\.type must be one of"),
])
def test_manifest_violations_name_the_field(bundle, tmp_path, change, message):
    path = _copy(bundle, tmp_path)
    _edit(path, change)
    with pytest.raises(mexit_tf.MexitError, match=message) as error:
        Cascade(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("text, message", [
    ('{"format_version": NaN}', "not valid JSON"),
    ('{"a": 1e999}', "not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "nests deeper than 64"),
    ('{"a":' * 70 + "1" + "}" * 70, "nests deeper than 64"),
    ("\xff\xfe", "not valid JSON"),
])
def test_hostile_json_is_one_line(bundle, tmp_path, text, message):
    path = _copy(bundle, tmp_path)
    (path / MANIFEST_NAME).write_text(text, encoding="latin-1")
    with pytest.raises(mexit_tf.MexitError, match=message):
        read_manifest(path)


@pytest.mark.parametrize("damage", ["truncated", "bit_flipped", "swapped"])
@pytest.mark.parametrize("engine", ["compiled", "interpreter"])
def test_damaged_stage_files_with_matching_checksums_are_refused(bundle, tmp_path, damage,
                                                                 engine):
    path = _copy(bundle, tmp_path)
    data = bytearray((path / "stage_1.tflite").read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 3]
    elif damage == "bit_flipped":
        for offset in range(16, len(data), 97):
            data[offset] ^= 0x5A
    else:  # stage 0 takes the image, not stage 0's tokens
        data = bytearray((path / "stage_0.tflite").read_bytes())
    _rewrite_stage(path, 1, bytes(data))
    with pytest.raises(mexit_tf.MexitError, match="stage_1.tflite") as error:
        Cascade(path, engine=engine)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("engine", ["compiled", "interpreter"])
def test_four_threads_get_the_serial_answers(bundle, engine):
    images = tiny_images(50, seed=21)
    cascade = Cascade(bundle, engine=engine)
    serial = [cascade.predict(image) for image in images]
    answers = [[None] * len(images) for _ in range(4)]

    def work(slot):
        for _ in range(4):  # 4 threads x 200 predicts
            for row, image in enumerate(images):
                answers[slot][row] = cascade.predict(image)

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for slot in range(4):
        for want, got in zip(serial, answers[slot], strict=True):
            assert (got.exit_index, got.label) == (want.exit_index, want.label)
            np.testing.assert_array_equal(got.output, want.output)


def test_runs_cannot_interleave_on_one_thread_and_close_releases(bundle):
    images = tiny_images(2, seed=22)
    with Cascade(bundle) as cascade:
        first = cascade.start(images[0], run_to_end=True)
        assert first.step()
        with pytest.raises(mexit_tf.MexitError, match="already has a run of this cascade"):
            cascade.start(images[1])
        first.run()
        assert cascade.predict(images[1]).exit_index >= 0  # the first run ended: stages free
        with pytest.raises(mexit_tf.MexitError, match="shape"):
            cascade.start(np.zeros((3, 3)))  # a refused input releases the stages too
        assert cascade.predict(images[1]).exit_index >= 0
    with pytest.raises(mexit_tf.MexitError, match="is closed"):
        cascade.predict(images[0])
    cascade.close()  # a second close is harmless


MUTANTS = Path(__file__).parent / "data" / "graph_shape_mutants"


@pytest.mark.parametrize("mutant", ["operator_index_flipped", "slice_constant_changed"])
@pytest.mark.parametrize("engine", ["compiled", "interpreter"])
def test_stages_whose_graph_computes_other_shapes_are_refused_not_run(mutant, engine):
    """Two stage files from a fuzz run of the JVM runner: valid flatbuffers with their
    checksums updated, whose graphs compute other output shapes than they declare; running
    them aborted the process. Loaded in a child process, so a crash fails this test."""
    probe = ("import sys\nfrom mexit_tf.errors import MexitError\n"
             "from mexit_tf.runtime import Cascade\n"
             f"try:\n    Cascade({str(MUTANTS / mutant)!r}, engine={engine!r})\n"
             "except MexitError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-1000:]
    assert "does not match the manifest: output 'Identity' is float32 [17, 10] in the file" \
        in done.stdout, done.stdout
