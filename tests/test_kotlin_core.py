"""The Kotlin cascade core (android_demo/core): compiled with kotlinc, run on the JVM.

The README's test command installs the tools (scripts/setup dev: JDK and JUnit 4 from
Debian, kotlinc from npm via android_demo/tools/install_kotlin.sh). Elsewhere these tests
skip, saying which tool is missing; under CI=true a missing tool fails them.
"""

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mexit_tf.gating.exit_policy import ExitPolicy

ROOT = Path(__file__).parent.parent
CORE = ROOT / "android_demo" / "core"
FIXTURE = CORE / "src" / "test" / "resources" / "golden_fixture.json"
TRACES = CORE / "src" / "test" / "resources" / "deadline_traces.json"
VECTORS = ROOT / "tests" / "manifest_vectors" / "vectors.json"
JARS = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]


def _kotlinc():
    local = ROOT / ".tools" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"
    return os.environ.get("KOTLINC") or (str(local) if local.exists() else shutil.which("kotlinc"))


def _missing_tools():
    missing = [] if _kotlinc() else ["kotlinc (bash android_demo/tools/install_kotlin.sh)"]
    missing += [] if shutil.which("java") else ["java (apt-get install default-jdk-headless)"]
    missing += [f"{jar} (apt-get install junit4)" for jar in JARS if not jar.exists()]
    return missing


@pytest.fixture(scope="module")
def core_tests_jar(tmp_path_factory):
    missing = _missing_tools()
    if missing and not os.environ.get("CI"):
        pytest.skip("Kotlin core tests need " + ", ".join(missing))
    assert not missing, f"CI must install {missing}"
    jar = tmp_path_factory.mktemp("kotlin") / "core-tests.jar"
    sources = [str(CORE / "src" / "main" / "kotlin"), str(CORE / "src" / "test" / "kotlin")]
    compiled = subprocess.run(
        [_kotlinc(), *sources, "-cp", os.pathsep.join(map(str, JARS)), "-include-runtime",
         "-nowarn", "-d", str(jar)], capture_output=True, text=True, timeout=600)
    assert compiled.returncode == 0, compiled.stderr[-4000:]
    return jar


def _run_core_tests(jar, fixture=FIXTURE, traces=TRACES, vectors=VECTORS):
    """Runs every core test class; `vectors` is the manifest vectors file (its folder also
    holds text_vectors.json)."""
    return subprocess.run(
        ["java", f"-Dmexit.golden={fixture}", f"-Dmexit.traces={traces}",
         f"-Dmexit.vectors={vectors}", "-cp",
         os.pathsep.join(map(str, [jar, *JARS])),
         "dev.mexit.core.TestMainKt"], capture_output=True, text=True, cwd=CORE, timeout=300)


def test_golden_fixture_holds_python_decisions():
    fixture = json.loads(FIXTURE.read_text())
    assert len(fixture["cases"]) >= 200 and len(fixture["policies"]) == 5
    outputs = [np.array([case["outputs"][k] for case in fixture["cases"]])
               for k in range(len(fixture["manifest"]["stages"]))]
    for index, data in enumerate(fixture["policies"]):
        exits = ExitPolicy.from_dict(data).select_exits(outputs)
        expected = [case["expected"][index] for case in fixture["cases"]]
        assert exits.tolist() == [e for e, _ in expected]
        assert [int(outputs[e][i].argmax()) for i, e in enumerate(exits)] == \
            [label for _, label in expected]


def test_kotlin_core_passes_and_agrees_with_python_on_every_case(core_tests_jar):
    result = _run_core_tests(core_tests_jar)
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cases = json.loads(FIXTURE.read_text())
    decisions = len(cases["cases"]) * len(cases["policies"])
    assert f"golden fixture: {decisions} of {decisions} decisions agree" in result.stdout
    traces = len(json.loads(TRACES.read_text())["cases"])
    assert f"deadline traces: {traces} of {traces} cases agree" in result.stdout
    vectors = len(json.loads(VECTORS.read_text()))
    assert f"manifest vectors: {vectors} of {vectors} agree" in result.stdout
    texts = len(json.loads((VECTORS.parent / "text_vectors.json").read_text()))
    assert f"text vectors: {texts} of {texts} refused in one line" in result.stdout
    assert result.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")


def test_an_altered_fixture_fails_the_kotlin_tests(core_tests_jar, tmp_path):
    fixture = json.loads(FIXTURE.read_text())
    altered = copy.deepcopy(fixture)
    case = altered["cases"][7]
    exit_index, label = case["expected"][0]
    case["expected"][0] = [(exit_index + 1) % len(case["outputs"]), label]
    path = tmp_path / "altered.json"
    path.write_text(json.dumps(altered))
    result = _run_core_tests(core_tests_jar, path)
    assert result.returncode != 0
    assert "1 of" in result.stdout and "case 7" in result.stdout
    assert result.stdout.strip().splitlines()[-1].endswith(" passed, 1 failed")


def test_deadline_traces_hold_what_python_does_now():
    """The committed traces are Python's current deadline semantics (regenerate them with
    converters.golden_fixture.write_deadline_traces when those change on purpose)."""
    from mexit_tf.converters.golden_fixture import deadline_traces, replay_deadline_traces

    traces = json.loads(TRACES.read_text())
    assert replay_deadline_traces(traces) == [case["expected"] for case in traces["cases"]]
    assert deadline_traces(json.loads(FIXTURE.read_text())) == traces
    stops = {case["expected"]["stopped_by"] for case in traces["cases"]}
    assert stops == {"policy", "deadline", "last_stage"}
    assert {case["expected"]["deadline_met"] for case in traces["cases"]} == {True, False, None}


def test_an_altered_trace_fails_the_kotlin_tests(core_tests_jar, tmp_path):
    traces = json.loads(TRACES.read_text())
    case = next(c for c in traces["cases"] if c["expected"]["stopped_by"] == "deadline")
    case["expected"]["stopped_by"] = "policy"
    path = tmp_path / "altered_traces.json"
    path.write_text(json.dumps(traces))
    result = _run_core_tests(core_tests_jar, traces=path)
    assert result.returncode != 0
    assert f"{len(traces['cases']) - 1} of {len(traces['cases'])} cases agree" in result.stdout


def test_altered_manifest_vectors_fail_the_kotlin_tests(core_tests_jar, tmp_path):
    """A vector whose verdict is changed (a valid manifest said to be refused, a refusal
    said to name another field) makes the Kotlin loader disagree, by name."""
    vectors = json.loads(VECTORS.read_text())
    valid = next(v for v in vectors if v["error_field"] is None)
    file = next(v for v in vectors if v["error_field"] == "stages[0].file")
    valid["error_field"], file["error_field"] = "stages[0].file", "stages[0].sha256"
    (tmp_path / "vectors.json").write_text(json.dumps(vectors))
    (tmp_path / "text_vectors.json").write_text(
        (VECTORS.parent / "text_vectors.json").read_text())
    result = _run_core_tests(core_tests_jar, vectors=tmp_path / "vectors.json")
    assert result.returncode != 0
    assert f"manifest vectors: {len(vectors) - 2} of {len(vectors)} agree" in result.stdout
    assert f"DISAGREE vector '{valid['name']}'" in result.stdout
    assert f"DISAGREE vector '{file['name']}'" in result.stdout
