"""The shared manifest vectors (tests/manifest_vectors) through the Python reader.

Every vector: a manifest every reader accepts (`error_field` null), or one that every
reader refuses in one line naming `error_field` (`stages[0].file`, `policy.thresholds[1]`,
...). The Kotlin loader runs the same files in its ManifestVectorsTest (tests/test_kotlin_core.py).
"""

import json
import sys
from pathlib import Path

import pytest

from mexit_tf.errors import MexitError
from mexit_tf.runtime import manifest as manifest_module

FOLDER = Path(__file__).parent / "manifest_vectors"
VECTORS = json.loads((FOLDER / "vectors.json").read_text())
TEXTS = json.loads((FOLDER / "text_vectors.json").read_text())


def test_the_vectors_are_what_make_vectors_writes(tmp_path):
    sys.path.insert(0, str(FOLDER))
    try:
        import make_vectors
    finally:
        sys.path.remove(str(FOLDER))
    make_vectors.write(tmp_path)
    for name in ("vectors.json", "text_vectors.json"):
        assert (tmp_path / name).read_text() == (FOLDER / name).read_text(), \
            f"{name} is stale: run python tests/manifest_vectors/make_vectors.py"


def test_the_vectors_cover_the_contract():
    assert len(VECTORS) >= 40 and len(TEXTS) >= 10
    valid = [v for v in VECTORS if v["error_field"] is None]
    assert {v["manifest"]["policy"]["type"] for v in valid} == {
        "confidence", "entropy", "margin", "patience", "budget", "agreement", "std"}
    fields = {v["error_field"] for v in VECTORS} - {None}
    for expected in ("stages[0].file", "stages[1].cost.latency_ms", "stages[1]", "labels",
                     "policy.thresholds", "policy.thresholds[1]", "format_version", "policy.type",
                     "stages[1].outputs", "stages[0].outputs[1].shape", "calibration"):
        assert expected in fields, expected


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_python_reads_the_vector_as_the_contract_says(vector):
    field = vector["error_field"]
    if field is None:
        manifest_module.validate_manifest(vector["manifest"])
        return
    with pytest.raises(MexitError) as refused:
        manifest_module.validate_manifest(vector["manifest"])
    message = str(refused.value)
    assert "\n" not in message, message
    assert field in message, f"{message!r} does not name {field!r}"


@pytest.mark.parametrize("vector", TEXTS, ids=[t["name"] for t in TEXTS])
def test_python_refuses_the_text_in_one_line(vector):
    with pytest.raises(MexitError) as refused:
        manifest = manifest_module.parse_manifest_text(vector["text"])
        manifest_module.validate_manifest(manifest)
    assert "\n" not in str(refused.value)


def test_an_oversized_manifest_is_refused_before_parsing():
    text = '{"pad": "' + "x" * (8 << 20) + '"}'
    with pytest.raises(MexitError, match="at most"):
        manifest_module.parse_manifest_text(text)
