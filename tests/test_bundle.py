import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ALL_HEADS, tiny_images, tiny_labels
from mexit_tf.converters import build_stage_models, export_bundle
from mexit_tf.converters.tflite_inspection import multiply_adds, op_counts

import mexit_tf
from mexit_tf.runtime import Cascade, read_manifest
from mexit_tf.runtime.manifest import validate_manifest


def test_stage_parity_for_every_head_type(bundle):
    manifest = read_manifest(bundle)
    assert [s["head"] for s in manifest["stages"]] == ALL_HEADS + ["classifier"]
    for name, parity in manifest["parity"].items():
        assert parity["finite"] and parity["max_relative_error"] <= 1e-4, name


def test_stages_use_builtin_ops_and_skip_earlier_blocks(bundle, all_heads_model):
    manifest = read_manifest(bundle)
    for stage in manifest["stages"]:
        ops = op_counts((bundle / stage["file"]).read_bytes())
        assert "CUSTOM" not in ops and not any(op.startswith("FLEX") for op in ops), ops
        # One backbone block (2 attention matmuls) plus at most one block in the head:
        # no stage recomputes the blocks before it (the whole network has 18).
        assert ops["BATCH_MATMUL"] <= 4, (stage["head"], ops["BATCH_MATMUL"])
    assert manifest["stages"][1]["inputs"][0]["shape"] == manifest["hidden"]["shape"]


def test_stage_chain_reproduces_keras_outputs(bundle, all_heads_model):
    images = tiny_images(3, seed=9)
    cascade = Cascade(bundle)
    outputs, latencies = cascade.run_all(images, progress=False)
    expected = all_heads_model.predict(images.astype("float32"), verbose=0)
    for name, got in zip(cascade.exit_names, outputs, strict=True):
        np.testing.assert_allclose(got, expected[name], rtol=1e-4, atol=1e-4)
    assert latencies.shape == (3, 9) and (latencies > 0).all()


def test_macs_follow_the_layer_shapes():
    backbone = mexit_tf.ViTBackbone((8, 8, 1), 2, 16, 1, 2, 32)
    model = mexit_tf.MultiExitModel(backbone, exits={}, num_outputs=3)
    from mexit_tf.converters.tflite_conversion import convert_to_tflite

    macs = multiply_adds(convert_to_tflite(build_stage_models(model)[0]))
    tokens, width, mlp = 17, 16, 32
    expected = (16 * 4 * width            # patch projection: 16 patches, 2x2x1 kernel
                + 4 * tokens * width * width  # q, k, v, output projections
                + 2 * tokens * tokens * width  # scores and weighted values
                + 2 * tokens * width * mlp     # MLP
                + width * 3)                   # classifier
    assert macs == expected


def test_cascade_stops_where_the_policy_says(bundle):
    image = tiny_images(1)[0]
    early = Cascade(bundle, policy=mexit_tf.gating.ConfidencePolicy([0.0] * 8))
    result = early.predict(image)
    assert (result.exit_index, result.exit_name, len(result.stage_latencies_ms)) == (0, "exit_1", 1)
    late = Cascade(bundle, policy=mexit_tf.gating.BudgetPolicy(1e9, [1.0] * 9))
    result = late.predict(image)
    assert result.exit_name == "final" and len(result.stage_latencies_ms) == 9
    assert result.label in ("a", "b", "c") and 0 < result.confidence <= 1


def test_cascade_evaluates_any_number_of_images(bundle):
    report = Cascade(bundle).evaluate(tiny_images(5), tiny_labels(5), progress=False)
    assert report["examples"] == 5 and abs(sum(report["exit_histogram"].values()) - 1) < 1e-6


def _copy(bundle, tmp_path):
    target = tmp_path / "b"
    shutil.copytree(bundle, target)
    return target


def _edit_manifest(path, change):
    manifest = json.loads((path / "manifest.json").read_text())
    change(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "stage_3.tflite").unlink(), "'stage_3.tflite' is missing"),
    (lambda p: (p / "stage_0.tflite").write_bytes(b"\x00" * 100), "is 100 bytes; the manifest"),
    (lambda p: (p / "stage_0.tflite").write_bytes(
        b"\x00" * (p / "stage_0.tflite").stat().st_size), "corrupted: sha256"),
    (lambda p: (p / "manifest.json").write_text("{not json"), "not valid JSON"),
    (lambda p: _edit_manifest(p, lambda m: m.update(format_version=99)),
     "format_version is 99"),
    (lambda p: _edit_manifest(p, lambda m: m.pop("stages")), "stages is missing"),
    (lambda p: _edit_manifest(p, lambda m: m.update(
        policy={"type": "confidence", "thresholds": [0.5] * 3})),
     "policy.thresholds holds 3 values"),
])
def test_damaged_bundles_are_refused(bundle, tmp_path, damage, message):
    path = _copy(bundle, tmp_path)
    damage(path)
    with pytest.raises(mexit_tf.MexitError, match=message):
        Cascade(path)


def test_truncated_stage_with_matching_sha_is_refused(bundle, tmp_path):
    path = _copy(bundle, tmp_path)
    data = (path / "stage_1.tflite").read_bytes()[:200]
    (path / "stage_1.tflite").write_bytes(data)
    from mexit_tf.runtime.manifest import sha256_of

    _edit_manifest(path, lambda m: m["stages"][1].update(sha256=sha256_of(path / "stage_1.tflite"),
                                                        bytes=len(data)))
    with pytest.raises(mexit_tf.MexitError, match="not a loadable TFLite model"):
        Cascade(path)


def test_export_never_overwrites_unless_asked(bundle, all_heads_model, tmp_path):
    path = _copy(bundle, tmp_path)
    before = (path / "manifest.json").read_text()
    with pytest.raises(mexit_tf.MexitError, match="already exists"):
        export_bundle(all_heads_model, path, (tiny_images(4), tiny_labels(4)))
    assert (path / "manifest.json").read_text() == before


def test_failed_export_leaves_nothing_behind(all_heads_model, tmp_path, monkeypatch):
    import mexit_tf.converters.bundle_export as bundle_export

    def broken_parity(*args, **kwargs):
        raise mexit_tf.MexitError("Parity check failed: exit_1: max relative error 1e-2 > 1e-4")

    monkeypatch.setattr(bundle_export, "check_parity", broken_parity)
    with pytest.raises(mexit_tf.MexitError, match="Parity check failed: exit_1"):
        export_bundle(all_heads_model, tmp_path / "out", (tiny_images(4), tiny_labels(4)))
    assert list(tmp_path.iterdir()) == []


def test_validate_manifest_names_the_problem():
    with pytest.raises(mexit_tf.MexitError, match="JSON object"):
        validate_manifest([1, 2])


def test_manifest_offers_operating_points_for_the_apps_target_picker(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    calibration = manifest["calibration"]
    points = calibration["operating_points"]
    assert points, "no operating points recorded"
    for point in points:
        policy = mexit_tf.gating.ExitPolicy.from_dict(point["policy"])
        assert policy.num_exits == len(manifest["stages"])
        floor = calibration["final_exit_accuracy"] - point["target_loss_points"] / 100
        assert point["expected_accuracy"] >= floor - 1e-9
    speedups = [point["expected_speedup"] for point in points]
    assert speedups == sorted(speedups)


def test_cascade_hands_tokens_on_as_views_without_changing_results(bundle):
    cascade = Cascade(bundle)
    images = tiny_images(3, seed=9)
    outputs, _ = cascade.run_all(images, progress=False)
    for row, image in enumerate(images):
        x = image[None].astype("float32")
        for index, stage in enumerate(cascade.stages):
            out, _ = stage.run(x)
            np.testing.assert_array_equal(out["logits"][0], outputs[index][row])
            x = out.get("hidden")
    # Views of a stage's buffers are released in time: the same cascade runs again.
    first, second = cascade.predict(images[0]), cascade.predict(images[0])
    np.testing.assert_array_equal(first.output, second.output)


def test_stage_buffers_read_in_place_match_the_public_interpreter_api(bundle):
    """Stages keep numpy views of their buffers across runs; results must equal LiteRT's own
    set_tensor / invoke / get_tensor path, image after image (the buffers never move)."""
    from ai_edge_litert.interpreter import Interpreter

    cascade = Cascade(bundle, engine="interpreter")
    stage = cascade.stages[0]
    reference = Interpreter(model_path=str(Path(bundle) / "stage_0.tflite"))
    reference.allocate_tensors()
    by_name = {d["name"]: d["index"] for d in reference.get_output_details()}
    for image in tiny_images(4, seed=11):
        x = image[None].astype("float32")
        state = {"image": x}
        logits, _ = stage.run_roles(state)
        hidden = state["hidden"]
        reference.set_tensor(reference.get_input_details()[0]["index"], x)
        reference.invoke()
        for role, value in (("logits", logits), ("hidden", hidden)):
            name = next(o["name"] for o in stage.spec["outputs"] if o["role"] == role)
            np.testing.assert_array_equal(value, reference.get_tensor(by_name[name]))
    with pytest.raises(mexit_tf.MexitError, match="received"):
        stage.run(np.zeros((1, 3, 3, 1), "float32"))


def test_compiled_model_engine_hands_buffers_on_and_matches_the_interpreter(bundle):
    compiled, interpreter = Cascade(bundle), Cascade(bundle, engine="interpreter")
    assert compiled.engine == "compiled"
    images = tiny_images(6, seed=12)
    got, _ = compiled.run_all(images, progress=False)
    want, _ = interpreter.run_all(images, progress=False)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6, err_msg=f"stage {index}")
    # Stage k's output buffer is stage k+1's input: the same TensorBuffer, no copy.
    state = compiled.prepare(images[0])
    compiled.stages[0].run_roles(state)
    handed = state["hidden"]
    assert handed is compiled.stages[0]._handed_on["hidden"]
    compiled.stages[1].run_roles(state)
    assert state["hidden"] is compiled.stages[1]._handed_on["hidden"] is not handed
    with pytest.raises(mexit_tf.MexitError, match="engine must be one of compiled, "
                                                  "interpreter; received 'gpu'"):
        Cascade(bundle, engine="gpu")


def test_evaluate_reports_the_wall_clock_a_caller_waits_for(bundle):
    from mexit_tf.gating import ConfidencePolicy

    cascade, images, labels = Cascade(bundle), tiny_images(8), tiny_labels(8)
    # Every image leaves at exit 1 of 9: a caller waits for one stage, not nine.
    first = cascade.evaluate(images, labels, ConfidencePolicy([0.0] * 8), progress=False)
    assert first["exit_histogram"]["exit_1"] == 1.0 and first["speedup_vs_all_stages"] > 2
    # No exit accepts (confidence is never above 1): every stage and every decision runs.
    last = cascade.evaluate(images, labels, ConfidencePolicy([1.0] * 8), progress=False)
    assert last["exit_histogram"]["final"] == 1.0 and last["speedup_vs_all_stages"] == 1.0
    # At this toy size a decision costs more than a stage, so the wall clock is compared
    # like for like: one stage and one decision against nine of each.
    assert first["wall_ms"]["mean"] < last["wall_ms"]["mean"]


