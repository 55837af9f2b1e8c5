"""The Kotlin cascade core on a real bundle, on the JVM (android_demo/jvm: LiteRT's C API
through a JNI bridge), against the Python cascade on real Fashion-MNIST test images.

The README's test command installs the tools (scripts/setup dev: gcc, a JDK, kotlinc);
elsewhere these tests skip, saying
which tool is missing, except under CI=true, where a missing tool fails.
"""

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import keras
import numpy as np
import pytest
from mexit_tf.converters import export_bundle
from mexit_tf.converters.golden_fixture import fixture_policies
from PIL import Image
from test_kotlin_core import _missing_tools

import mexit_tf
from mexit_tf.data import load_fashion_mnist
from mexit_tf.runtime import Cascade

ROOT = Path(__file__).resolve().parents[1]
MEXIT_JVM = ROOT / "android_demo" / "tools" / "mexit-jvm"
BUILD = ROOT / "android_demo" / "tools" / "build_jvm_runner.sh"
IMAGES = 200
# LiteRT is found with the interpreter running the tests, not the first python3 on PATH.
ENV = {**os.environ, "PYTHON": sys.executable}


@pytest.fixture(scope="module")
def jvm_runner():
    """(JNI library, runner jar), built."""
    missing = _missing_tools() + ([] if shutil.which("gcc") else ["gcc"])
    if missing and not os.environ.get("CI"):
        pytest.skip("the JVM runner needs " + ", ".join(missing))
    assert not missing, f"CI must install {missing}"
    built = subprocess.run(["bash", BUILD], capture_output=True, text=True, timeout=900, env=ENV)
    assert built.returncode == 0, built.stderr[-3000:]
    library, jar = built.stdout.split()[-2:]
    return library, jar


@pytest.fixture(scope="module")
def fashion_bundle(jvm_runner, tmp_path_factory):
    """A small ViT trained briefly on real Fashion-MNIST, exported (exits after blocks 1, 2),
    and the first 200 test images as 8-bit PNG files."""
    root = tmp_path_factory.mktemp("jvm")
    data = load_fashion_mnist()
    keras.utils.set_random_seed(0)
    backbone = mexit_tf.ViTBackbone(image_shape=(28, 28, 1), patch_size=7, hidden_dim=32,
                                    num_heads=2, mlp_dim=64, num_layers=3)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "mlp_ee", 2: "vit_ee"}, num_outputs=10)
    model.compile()
    model.fit(data.x_train[:3000], data.y_train[:3000], epochs=1, batch_size=64, verbose=0)
    export_bundle(model, root / "bundle", (data.x_val[:500], data.y_val[:500]),
                  data.class_names, progress=False, latency_runs=5)
    paths = []
    for index in range(IMAGES):
        paths.append(root / f"test_{index:03d}.png")
        Image.fromarray(data.x_test[index, :, :, 0]).save(paths[-1])
    return root / "bundle", paths, data.x_test[:IMAGES], data.y_test[:IMAGES]


def _mexit_jvm(*args):
    return subprocess.run([str(MEXIT_JVM), *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=ENV)


def _run_json(*args):
    result = _mexit_jvm("run", *args, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def test_every_stage_logit_is_bit_identical_to_python(fashion_bundle):
    bundle, paths, images, _ = fashion_bundle
    want, _ = Cascade(bundle).run_all(images, progress=False)
    rows = _run_json(bundle, *paths, "--all-stages")
    assert [row["image"] for row in rows] == list(map(str, paths))
    for stage, expected in enumerate(want):
        got = np.array([row["outputs"][stage] for row in rows], dtype=np.float32)
        assert got.shape == expected.shape == (IMAGES, 10)
        np.testing.assert_array_equal(got, expected.astype(np.float32), err_msg=f"stage {stage}")
    assert all(row["exit"] == "final" and len(row["stage_ms"]) == 3 for row in rows)


def test_exits_agree_with_python_under_every_policy_type(fashion_bundle, tmp_path):
    bundle, paths, images, labels = fashion_bundle
    cascade = Cascade(bundle)
    outputs, _ = cascade.run_all(images, progress=False)
    policies = fixture_policies(cascade, outputs, labels)
    assert [p.to_dict()["type"] for p in policies] == ["confidence", "entropy", "margin",
                                                       "patience", "budget"]
    seen_exits = set()
    for number, policy in enumerate(policies):
        path = tmp_path / f"policy_{number}.json"
        path.write_text(json.dumps(policy.to_dict()))
        rows = _run_json(bundle, *paths, "--policy", path)
        python = [cascade.predict(image, policy=policy) for image in images]
        kind = policy.to_dict()["type"]
        assert [row["exit_index"] for row in rows] == [r.exit_index for r in python], kind
        assert [row["label"] for row in rows] == [r.label for r in python], kind
        assert all(len(row["outputs"]) == row["exit_index"] + 1 for row in rows), kind
        seen_exits |= {row["exit_index"] for row in rows}
    assert seen_exits == {0, 1, 2}  # the policies send images to every exit


def test_a_deadline_is_met_and_reported_like_python(fashion_bundle):
    bundle, paths, _, _ = fashion_bundle
    rows = _run_json(bundle, *paths[:20], "--deadline-ms", "1000")
    assert all(row["deadline_met"] is True for row in rows)
    assert {row["stopped_by"] for row in rows} <= {"policy", "last_stage"}
    assert all(0 < row["elapsed_ms"] < 1000 for row in rows)
    free = _run_json(bundle, paths[0])
    assert free[0]["deadline_met"] is None


def test_the_command_prints_exit_label_and_stage_times(fashion_bundle):
    bundle, paths, _, _ = fashion_bundle
    result = _mexit_jvm("run", bundle, paths[0], paths[1])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{paths[0]}: ")
    assert " ms" in lines[0] and "stages " in lines[0]
    assert result.stderr == ""  # LiteRT's own start-up lines stay hidden


@pytest.mark.parametrize("args, message", [
    (["run"], "need a bundle and at least one image"),
    (["run", "{bundle}", "missing.png"], "image 'missing.png' does not exist"),
    (["run", "{bundle}", "{image}", "--threads", "zero"], "received 'zero'"),
    (["run", "{bundle}", "{image}", "--deadline-ms", "0"], "received '0'"),
    (["run", "{bundle}", "{image}", "--deadline-ms", "NaN"], "received 'NaN'"),
    (["run", "{bundle}", "{image}", "--policy", "{bundle}/manifest.json"], "policy"),
    (["serve", "{bundle}"], "unknown command 'serve'"),
    (["run", "{bundle}/stage_0.tflite", "{image}"], "is not a folder"),
    (["run", "{bundle}", "{bundle}/manifest.json"], "manifest.json: cannot decode as an image"),
])
def test_bad_input_is_one_line_and_status_2(fashion_bundle, args, message):
    bundle, paths, _, _ = fashion_bundle
    result = _mexit_jvm(*[a.format(bundle=bundle, image=paths[0]) for a in args])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Exception" not in result.stderr


def test_a_corrupted_stage_is_refused_by_name(fashion_bundle, tmp_path):
    bundle, paths, _, _ = fashion_bundle
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    _rewrite(broken / "stage_1.tflite", lambda data: data[:-1] + bytes([data[-1] ^ 1]))
    _assert_refused(_mexit_jvm("run", broken, paths[0]), "stage file 'stage_1.tflite' is corrupted")


def _tampered(bundle, folder, stage_edit=None, manifest_edit=None):
    """A copy of `bundle` in `folder`, edited, its checksums and sizes made to match again
    (as someone handing over a bad bundle would)."""
    shutil.copytree(bundle, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    if stage_edit:
        stage_edit(folder)
    if manifest_edit:
        manifest_edit(manifest)
    for stage in manifest["stages"]:
        data = (folder / stage["file"]).read_bytes()
        stage["sha256"] = hashlib.sha256(data).hexdigest()
        if "bytes" in stage:
            stage["bytes"] = len(data)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _assert_refused(result, *words):
    """Exit 2 (not a signal: LiteRT's SIGSEGV aborts the JVM), one line, no stack trace."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert len(result.stderr.splitlines()) == 1, result.stderr[-3000:]
    assert "Exception in thread" not in result.stderr and "\tat " not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def _rewrite(path, edit):
    path.write_bytes(edit(bytearray(path.read_bytes())))


@pytest.mark.parametrize("keep", [lambda n: 64, lambda n: n // 2, lambda n: n - 16],
                         ids=["64 bytes", "half", "all but 16 bytes"])
def test_a_truncated_stage_with_a_matching_checksum_is_refused_not_run(fashion_bundle, tmp_path,
                                                                      keep):
    bundle, paths, _, _ = fashion_bundle
    broken = _tampered(bundle, tmp_path / "b",
                       lambda d: _rewrite(d / "stage_1.tflite",
                                          lambda data: data[:keep(len(data))]))
    _assert_refused(_mexit_jvm("run", broken, paths[0]),
                    "stage file 'stage_1.tflite' is not a valid TFLite model")


def test_a_bit_flipped_stage_is_refused_or_runs_never_crashes(fashion_bundle, tmp_path):
    bundle, paths, _, _ = fashion_bundle

    def flip(byte, bit):
        def edit(data):
            data[byte] ^= 1 << bit
            return data
        return edit

    # The root table's offset sent 8 MB past the end: refused by name.
    broken = _tampered(bundle, tmp_path / "root",
                       lambda d: _rewrite(d / "stage_1.tflite", flip(2, 7)))
    _assert_refused(_mexit_jvm("run", broken, paths[0]), "stage_1.tflite", "root table")
    # Seeded flips in the file's last quarter, where the converter puts the subgraph's
    # tensors and operators: a one-line refusal or (a flipped weight) an answer, no crash.
    refused = 0
    for seed in range(4):
        rng = random.Random(seed)

        def flips(data, rng=rng):
            for _ in range(4):
                data[rng.randrange(len(data) * 3 // 4, len(data))] ^= 1 << rng.randrange(8)
            return data

        folder = _tampered(bundle, tmp_path / f"flip_{seed}",
                           lambda d: _rewrite(d / "stage_1.tflite", flips))
        result = _mexit_jvm("run", folder, paths[0])
        if result.returncode != 0:
            _assert_refused(result, "stage_1.tflite")
            refused += 1
    assert refused >= 1  # some flips hit the structure


def test_a_stage_file_swapped_for_another_is_refused_naming_the_tensor(fashion_bundle, tmp_path):
    bundle, paths, _, _ = fashion_bundle
    manifest = json.loads((bundle / "manifest.json").read_text())
    hidden = next(o["name"] for o in manifest["stages"][1]["outputs"] if o["role"] == "hidden")
    swapped = _tampered(bundle, tmp_path / "s",
                        lambda d: shutil.copy(d / "stage_2.tflite", d / "stage_1.tflite"))
    _assert_refused(_mexit_jvm("run", swapped, paths[0]),
                    f"stage file 'stage_1.tflite' has no output '{hidden}'")


def test_a_manifest_tensor_the_model_lacks_is_refused_by_name(fashion_bundle, tmp_path):
    bundle, paths, _, _ = fashion_bundle

    def rename(manifest):
        manifest["stages"][-1]["outputs"][0]["name"] = "logits_out"

    renamed = _tampered(bundle, tmp_path / "r", manifest_edit=rename)
    _assert_refused(_mexit_jvm("run", renamed, paths[0]), "has no output 'logits_out'")


def test_labels_are_escaped_as_json(fashion_bundle, tmp_path):
    bundle, paths, _, _ = fashion_bundle

    def relabel(manifest):
        manifest["labels"] = [f'{i} "quoted" \\ é \u2028 ☃' for i in range(len(manifest["labels"]))]

    folder = _tampered(bundle, tmp_path / "l", manifest_edit=relabel)
    labels = json.loads((folder / "manifest.json").read_text())["labels"]
    rows = _run_json(folder, *paths[:3])
    assert [row["label"] for row in rows] == [labels[row["label_index"]] for row in rows]
    plain = _mexit_jvm("run", folder, *paths[:3])
    assert plain.returncode == 0 and len(plain.stdout.splitlines()) == 3, plain.stdout

    # A label with a newline: refused by the manifest contract in one line, or printed as
    # valid JSON; never a broken line.
    def newline(manifest):
        manifest["labels"] = [f"line\nbreak {i}" for i in range(len(manifest["labels"]))]

    folder = _tampered(bundle, tmp_path / "n", manifest_edit=newline)
    result = _mexit_jvm("run", folder, paths[0], "--json")
    if result.returncode == 0:
        assert json.loads(result.stdout)[0]["label"].startswith("line\nbreak ")
    else:
        _assert_refused(result, "labels")


def _png_16_bit(path, pixels):
    """Writes (H, W, C) uint16 pixels as a 16-bit PNG (grey, grey+alpha, RGB or RGBA):
    Pillow writes only 16-bit grey."""
    height, width, channels = pixels.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 16, {1: 0, 2: 4, 3: 2, 4: 6}[channels], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
                     chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16_bit_pngs_are_read_as_python_reads_them(fashion_bundle, tmp_path):
    from mexit_tf.data.image_file import read_image_file

    bundle, _, images, _ = fashion_bundle
    # Grey (Pillow's I;16): values that round to the 8-bit ones only when scaled by
    # 255/65535. RGB and grey+alpha: Pillow keeps each sample's high byte.
    wide = np.minimum(images[:2, :, :, 0].astype(np.uint32) * 257 + np.arange(28) * 4,
                      65535).astype(np.uint16)
    paths = []
    for index, image in enumerate(wide):
        paths.append(tmp_path / f"wide_{index}.png")
        Image.fromarray(image).save(paths[-1])
        with Image.open(paths[-1]) as saved:
            assert saved.mode == "I;16"
    rng = np.random.default_rng(0)
    for channels in (3, 2):
        paths.append(tmp_path / f"wide_{channels}.png")
        _png_16_bit(paths[-1], rng.integers(0, 65536, (28, 28, channels), dtype=np.uint16))
    pixels = np.stack([read_image_file(path, (28, 28), 1)[0] for path in paths])
    want, _ = Cascade(bundle).run_all(pixels, progress=False)
    result = _mexit_jvm("run", bundle, *paths, "--all-stages", "--json")
    assert result.returncode == 0, result.stderr
    assert "16-bit" in result.stderr
    rows = json.loads(result.stdout)
    for stage, expected in enumerate(want):
        got = np.array([row["outputs"][stage] for row in rows], dtype=np.float32)
        np.testing.assert_array_equal(got, expected.astype(np.float32), err_msg=f"stage {stage}")


def test_resized_images_are_the_same_bytes_as_in_python(fashion_bundle, tmp_path):
    """One resize rule (the manifest's input.resize) in Python and on the JVM: images of
    other sizes, grey and colour, up and down, give the same logits bit for bit."""
    from mexit_tf.data.image_file import read_image_file

    bundle, _, _, _ = fashion_bundle
    assert json.loads((bundle / "manifest.json").read_text())["input"]["resize"] == \
        "bilinear-half-pixel"
    rng = np.random.default_rng(3)
    paths = []
    for index, shape in enumerate([(40, 37), (17, 23, 3), (64, 64, 3), (28, 50)]):
        paths.append(tmp_path / f"sized_{index}.png")
        Image.fromarray(rng.integers(0, 256, shape).astype("uint8")).save(paths[-1])
    pixels = np.stack([read_image_file(path, (28, 28), 1)[0] for path in paths])
    want, _ = Cascade(bundle).run_all(pixels, progress=False)
    result = _mexit_jvm("run", bundle, *paths, "--all-stages", "--json")
    assert result.returncode == 0, result.stderr
    assert "resized 40x37 to 28x28" not in result.stderr  # width x height, as Python says
    assert "resized 37x40 to 28x28" in result.stderr
    rows = json.loads(result.stdout)
    for stage, expected in enumerate(want):
        got = np.array([row["outputs"][stage] for row in rows], dtype=np.float32)
        np.testing.assert_array_equal(got, expected.astype(np.float32), err_msg=f"stage {stage}")


def test_the_bridge_refuses_misuse_and_close_is_idempotent(fashion_bundle, jvm_runner, tmp_path):
    bundle, _, _, _ = fashion_bundle
    library, jar = jvm_runner
    result = subprocess.run(["java", f"-XX:ErrorFile={tmp_path}/crash_%p.log",
                             f"-Dmexit.litert.jni={library}", "-cp", jar,
                             "dev.mexit.jvm.BridgeCheckKt", str(bundle)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    cases = json.loads(result.stdout)
    ok = ["run", "close", "close again", "destroy stage", "destroy stage again",
          "destroy environment", "destroy environment again",
          "run stage of closed environment", "destroy last stage"]
    assert {name: cases[name] for name in ok} == dict.fromkeys(ok, "ok")
    refused = {
        "run after close": "IllegalStateException", "input index -1": "IllegalArgumentException",
        "output index 99": "IllegalArgumentException", "write 3 floats": "IllegalArgumentException",
        "read into output 7": "IllegalArgumentException",
        "bind to itself": "IllegalArgumentException",
        "bind to a made-up stage": "IllegalStateException",
        "stage of 3 bytes": "IllegalArgumentException",
        "stage in a made-up environment": "IllegalStateException",
        "environment handle as a stage": "IllegalStateException",
        "run destroyed stage": "IllegalStateException",
        "stage in closed environment": "IllegalStateException"}
    assert {name: cases[name].split(":")[0] for name in refused} == refused, cases
    assert "is closed" in cases["run destroyed stage"]


def test_the_build_finds_litert_with_the_given_python(jvm_runner, tmp_path):
    env = {key: value for key, value in ENV.items() if key != "LITERT_LIB_DIR"}
    result = subprocess.run(["bash", BUILD], capture_output=True, text=True, timeout=60,
                            env={**env, "PYTHON": str(tmp_path / "no-python")})
    assert result.returncode == 2
    assert f"'{tmp_path / 'no-python'}' cannot import ai_edge_litert" in result.stderr


def _mutate_json(value, rng):
    """`value` (a manifest) with one field dropped, retyped or set out of range."""
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, child in node.items():
                paths.append((path, key))
                walk(child, path + [key])
        elif isinstance(node, list):
            for index, child in enumerate(node):
                paths.append((path, index))
                walk(child, path + [index])

    walk(value, [])
    path, key = rng.choice(paths)
    parent = value
    for step in path:
        parent = parent[step]
    kind = rng.randrange(3)
    if kind == 0 and isinstance(parent, dict):
        del parent[key]
    elif kind == 1:
        parent[key] = rng.choice(["x", "", 7, -1, 2.5, None, True, [], {}, [1, 2], {"a": 1}])
    else:
        parent[key] = rng.choice([0, -1, -7.5, 1e9, 2**40, 1e308, "../stage_0.tflite",
                                  "/etc/passwd"])
    return value


def _mutated_bundle(bundle, folder, rng):
    """A copy of `bundle` (stage files hard-linked) with one seeded mutation: a stage file
    truncated, bit-flipped, overwritten in its tables or swapped for another (checksums
    and sizes updated), or a manifest field dropped, retyped or out of range."""
    shutil.copytree(bundle, folder, copy_function=os.link)
    manifest = json.loads((bundle / "manifest.json").read_text())
    stages = [stage["file"] for stage in manifest["stages"]]
    kind = rng.randrange(5)
    if kind < 4:
        path = folder / rng.choice(stages)
        data = bytearray(path.read_bytes())
        if kind == 0:
            data = data[:rng.randrange(len(data))]
        elif kind == 1:
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif kind == 2:  # where the converter puts the subgraph's tables
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data) * 3 // 4, len(data))] = rng.randrange(256)
        else:
            data = (folder / rng.choice(stages)).read_bytes()
        path.unlink()  # a hard link: the original stays
        path.write_bytes(bytes(data))
        for stage in manifest["stages"]:
            stage_data = (folder / stage["file"]).read_bytes()
            stage["sha256"] = hashlib.sha256(stage_data).hexdigest()
            if "bytes" in stage:
                stage["bytes"] = len(stage_data)
    else:
        manifest = _mutate_json(manifest, rng)
    (folder / "manifest.json").unlink()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


FUZZ_BUNDLES = 500


def test_mutated_bundles_get_an_answer_or_one_line_never_a_crash(fashion_bundle, jvm_runner,
                                                                 tmp_path):
    """Seeded: the same 500 mutants each run. In one JVM (FuzzRun) per batch of 100: a
    crash in LiteRT would end the batch."""
    bundle, paths, _, _ = fashion_bundle
    library, jar = jvm_runner
    rng = random.Random(27)
    folders = [_mutated_bundle(bundle, tmp_path / f"m{index:03d}", rng)
               for index in range(FUZZ_BUNDLES)]
    rows = []
    for start in range(0, len(folders), 100):
        batch = folders[start:start + 100]
        result = subprocess.run(["java", f"-XX:ErrorFile={tmp_path}/crash_%p.log",
                                 f"-Dmexit.litert.jni={library}", "-cp", jar,
                                 "dev.mexit.jvm.FuzzRunKt", str(paths[0]), *map(str, batch)],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (batch[len(result.stdout.splitlines())],
                                        result.stderr[-3000:])
        rows += [json.loads(line) for line in result.stdout.splitlines()]
        assert len(rows) == start + len(batch), result.stderr[-3000:]
    for row in rows:
        assert row["status"] in (0, 2), row
        if row["status"] == 2:
            assert row["stderr"].startswith("mexit-jvm: error: "), row
            assert row["stderr"].count("\n") == 1, row
        else:
            assert row["stderr"] == "", row
            assert isinstance(json.loads(row["stdout"])[0]["label"], str), row
    refused = sum(row["status"] == 2 for row in rows)
    assert 0.2 * FUZZ_BUNDLES < refused < FUZZ_BUNDLES  # both outcomes are exercised
