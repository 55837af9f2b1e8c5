"""QAT (fake-quant rules, ranges, .keras round-trip) and int8 export: CPU int8 (int8 weights,
dynamic activations) and int8-static (whole-int8 graph), each from QAT or PTQ."""

import keras
import numpy as np
import pytest
from conftest import run_mexit, tiny_backbone
from mexit_tf.converters.bundle_export import export_bundle
from mexit_tf.converters.stage_builder import build_stage_models
from mexit_tf.converters.tflite_conversion import convert_to_tflite
from mexit_tf.converters.tflite_inspection import tensor_types_of
from PIL import Image

import mexit_tf
from mexit_tf.cli.main import main
from mexit_tf.quantization import FakeQuant, quantize_aware, quantizers_of
from mexit_tf.runtime.litert_stage import LiteRTStage


def pattern_data(count, seed):
    """Three classes told apart by which third of the image is bright: learnable in seconds."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, count).astype("int32")
    x = rng.uniform(0, 60, (count, 8, 8, 1))
    for i, label in enumerate(y):
        x[i, :, label * 3:label * 3 + 2] += 180
    return x.astype("float32"), y


@pytest.fixture(scope="module")
def float_and_qat():
    """A float model trained on `pattern_data` and its QAT fine-tuned copy."""
    keras.utils.set_random_seed(0)
    model = mexit_tf.MultiExitModel(tiny_backbone(num_layers=3),
                                    exits={1: "mlp_ee", 2: "sl_vit"}, num_outputs=3)
    x, y = pattern_data(512, seed=0)
    model.compile(optimizer=keras.optimizers.AdamW(3e-3))
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    qat = quantize_aware(model)
    qat.compile(optimizer=keras.optimizers.AdamW(3e-4))
    qat.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model, qat


def test_every_kernel_layer_and_both_attention_matmuls_get_fake_quant(all_heads_model):
    qat = quantize_aware(all_heads_model)
    layers = qat._flatten_layers(include_self=False, recursive=True)
    kernels = [layer for layer in layers if isinstance(
        layer, (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Conv2D))]
    assert kernels and all(isinstance(getattr(layer, "kernel_quantizer", None), FakeQuant)
                           for layer in kernels)
    attentions = [layer for layer in layers if isinstance(layer, mexit_tf.MultiHeadSelfAttention)]
    assert attentions and all(layer.scores_quantizer is not None
                              and layer.weights_quantizer.fixed_range == (0.0, 1.0)
                              for layer in attentions)
    # LayerNorm stays float, and the source model is untouched.
    assert not any(hasattr(layer, "input_quantizer") for layer in layers
                   if isinstance(layer, keras.layers.LayerNormalization))
    assert all_heads_model.quantization is None and not quantizers_of(all_heads_model)


def test_qat_model_trains_learns_ranges_and_round_trips(float_and_qat, tmp_path):
    model, qat = float_and_qat
    assert all(quantizer.has_range for quantizer in quantizers_of(qat))
    x, _ = pattern_data(32, seed=1)
    before = qat.predict(x, verbose=0)
    path = tmp_path / "qat.keras"
    qat.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.quantization == qat.quantization
    after = loaded.predict(x, verbose=0)
    for name in qat.exit_names:
        np.testing.assert_array_equal(before[name], after[name])
    # Fake-quant changes the outputs, but only slightly.
    reference = model.predict(x, verbose=0)["final"]
    assert 0 < np.abs(before["final"] - reference).max() < 0.5 * np.abs(reference).max()


def test_int8_stages_run_integer_matmuls_and_agree_with_the_qat_model(float_and_qat):
    _, qat = float_and_qat
    x, _ = pattern_data(200, seed=2)
    want = qat.predict(x, verbose=0)
    inputs = x
    for index, stage in enumerate(build_stage_models(qat)):
        data = convert_to_tflite(stage, "int8-static")
        assert "INT8" in tensor_types_of(data, "FULLY_CONNECTED")
        assert "INT8" in tensor_types_of(data, "BATCH_MATMUL")
        runner = LiteRTStage(data)
        got, hidden = [], []
        for image in inputs:
            out, _ = runner.run(image[None])
            got.append(out["logits"][0])
            if "hidden" in out:
                hidden.append(out["hidden"][0])
        inputs = np.stack(hidden) if hidden else None
        agreement = np.mean(np.argmax(got, -1) == want[qat.exit_names[index]].argmax(-1))
        assert agreement >= 0.99, (qat.exit_names[index], agreement)


def test_cpu_int8_bundles_keep_their_float_partitions_and_say_where_weights_came_from(
        tmp_path):
    # The converter leaves weights under 1024 values in float, so this model is
    # wider than the toy one; bundle sizes are compared in the int8 benchmark.
    keras.utils.set_random_seed(0)
    model = mexit_tf.MultiExitModel(tiny_backbone(num_layers=2, hidden_dim=32, mlp_dim=64),
                                    exits={1: "mlp_ee"}, num_outputs=3)
    qat = quantize_aware(model)  # CPU int8 takes its weights only: no ranges needed
    x, y = pattern_data(64, seed=3)
    for name, source, kwargs in (("qat", qat, {}), ("ptq", model, {"ptq": True})):
        manifest = export_bundle(source, tmp_path / name, (x, y), quantize="int8",
                                 progress=False, latency_runs=3, **kwargs)
        assert manifest["quantization"] == "int8" and manifest["int8_from"] == name
        assert manifest["hidden"]["dtype"] == "float32"
        for spec in manifest["stages"]:
            stage = (tmp_path / name / spec["file"]).read_bytes()
            assert "INT8" in tensor_types_of(stage, "FULLY_CONNECTED")  # int8 weights
            assert tensor_types_of(stage, "QUANTIZE") == set()  # no static activations
            record = spec["delegation"]
            assert record["partitions"] <= record["float32_partitions"]
            assert "warning" not in record


def test_qat_weights_are_exported_on_their_int8_grid(float_and_qat):
    from mexit_tf.quantization.quantized_weights import with_quantized_weights

    _, qat = float_and_qat
    baked = with_quantized_weights(qat)
    assert baked.quantization is None and not quantizers_of(baked)
    kernels = [layer.kernel for layer in baked._flatten_layers(include_self=False)
               if isinstance(layer, keras.layers.Dense)]
    assert kernels and all(len(np.unique(np.asarray(k))) <= 255 for k in kernels)
    x, _ = pattern_data(64, seed=5)
    # Activations are no longer fake-quantized, so answers move a little, not a lot.
    got, want = baked.predict(x, verbose=0), qat.predict(x, verbose=0)
    assert np.mean(got["final"].argmax(-1) == want["final"].argmax(-1)) >= 0.95


def test_static_int8_fragments_on_xnnpack_and_says_so(float_and_qat, tmp_path):
    from mexit_tf.runtime.delegation import FragmentationWarning

    _, qat = float_and_qat
    x, y = pattern_data(64, seed=3)
    with pytest.warns(FragmentationWarning, match=r"XNNPACK partitions \(float32: \d+\); "
                                                   r"left outside: .*SOFTMAX"):
        manifest = export_bundle(qat, tmp_path / "static", (x, y), quantize="int8-static",
                                 progress=False, latency_runs=3)
    assert manifest["int8_ranges"] == "qat"
    record = manifest["stages"][0]["delegation"]
    assert record["partitions"] > record["float32_partitions"]
    assert "SOFTMAX" in record["ops_outside"] and not record["fully_delegated"]


def test_every_mode_passes_parity(float_and_qat, tmp_path):
    model, _ = float_and_qat
    x, y = pattern_data(64, seed=6)
    for mode in ("float32", "float16", "dynamic"):
        manifest = export_bundle(model, tmp_path / mode, (x, y), quantize=mode,
                                 progress=False, latency_runs=3)
        parity = manifest["parity"]
        assert all(entry["finite"] for entry in parity.values())
        if mode == "float32":
            assert max(e["max_relative_error"] for e in parity.values()) <= 1e-4
        else:
            assert min(e["top1_agreement_clear"] for e in parity.values()) >= 0.98
            assert min(e["top1_agreement"] for e in parity.values()) >= 0.9


def test_int8_without_ranges_or_representative_data_is_refused(float_and_qat):
    model, qat = float_and_qat
    stage = build_stage_models(model)[1]
    with pytest.raises(mexit_tf.MexitError, match="no QAT ranges and no representative data"):
        convert_to_tflite(stage, "int8-static")
    with pytest.raises(mexit_tf.MexitError, match=r"has shape \(4, 8, 8, 1\); expected"):
        convert_to_tflite(stage, "int8-static",
                          representative=np.zeros((4, 8, 8, 1), "float32"))
    with pytest.raises(mexit_tf.MexitError, match="quantization-aware; export it with"):
        convert_to_tflite(build_stage_models(qat)[0], "float32")
    fresh = quantize_aware(model)  # never fitted: its activation ranges are unknown
    with pytest.raises(mexit_tf.MexitError, match="never learned"):
        convert_to_tflite(build_stage_models(fresh)[0], "int8-static")


def test_a_layer_without_a_rule_is_named_with_the_way_out():
    keras.utils.set_random_seed(0)

    @keras.saving.register_keras_serializable(package="test")
    class NormedExit(mexit_tf.ExitHead):
        def build(self, input_shape):
            self.norm = keras.layers.BatchNormalization(name="odd_norm")
            self.norm.build(input_shape)

        def call(self, tokens):
            return self.norm(tokens)[:, 0, : self.num_outputs]

    model = mexit_tf.MultiExitModel(tiny_backbone(num_layers=2),
                                    exits={1: NormedExit(3, name="exit_1")}, num_outputs=3)
    with pytest.raises(mexit_tf.MexitError,
                       match=r"no rule for layer 'odd_norm' \(BatchNormalization\).*skip"):
        quantize_aware(model)
    qat = quantize_aware(model, {"skip": ["exit_1"]})
    assert not hasattr(qat.exit_heads[0].norm, "input_quantizer")
    with pytest.raises(mexit_tf.MexitError, match="does not have"):
        quantize_aware(model, {"skip": ["no_such_layer"]})


def test_cli_qat_then_int8_export(float_and_qat, tmp_path, capsys):
    model, _ = float_and_qat
    x, y = pattern_data(36, seed=4)
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        (tmp_path / "data" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0].astype("uint8")).save(tmp_path / "data" / str(label) /
                                                            f"{i}.png")
    data = f"folder:{tmp_path / 'data'}"
    model.save(tmp_path / "float.keras")
    assert main(["qat", str(tmp_path / "float.keras"), "--out", str(tmp_path / "qat"),
                 "--data", data]) == 0
    assert '"qat"' in capsys.readouterr().out
    assert main(["export", str(tmp_path / "qat/model.keras"), "--out", str(tmp_path / "b8"),
                 "--quantize", "int8", "--data", data, "--target-loss", "5"]) == 0
    assert "int8 from QAT" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "float.keras"), "--out", str(tmp_path / "p8"),
                 "--quantize", "int8", "--ptq", "--data", data, "--target-loss", "5"]) == 0
    assert "int8 from PTQ" in capsys.readouterr().out
    refused = run_mexit("export", tmp_path / "float.keras", "--out", tmp_path / "bad",
                        "--quantize", "int8", "--data", data)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--ptq" in refused.stderr and not (tmp_path / "bad").exists()
    assert main(["qat", str(tmp_path / "qat/model.keras"), "--out", str(tmp_path / "q2"),
                 "--data", data]) == 2
    assert "already quantization-aware" in capsys.readouterr().err


def test_float_stages_run_as_one_xnnpack_partition():
    # The class token is sliced as SLICE + RESHAPE: a shrink-axis STRIDED_SLICE
    # would fall out of XNNPACK and split every stage in two.
    from mexit_tf.runtime.delegation import xnnpack_delegation

    keras.utils.set_random_seed(0)
    heads = {1: "mlp_ee", 2: "vit_ee", 3: "sl_vit", 4: "cnn_project"}
    model = mexit_tf.MultiExitModel(tiny_backbone(num_layers=5), exits=heads, num_outputs=3)
    for stage in build_stage_models(model):
        record = xnnpack_delegation(convert_to_tflite(stage))
        if stage.name.endswith("exit_4"):  # cnn_project tiles its class token: TILE stays out
            assert record["ops_outside"] == {"TILE": 1}, record
        else:
            assert record["fully_delegated"], (stage.name, record)
