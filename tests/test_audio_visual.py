"""Audio-visual exits: two encoders, visual and audio-visual exits, staged bundles that
run the audio branch only when an input gets that far."""

import keras
import numpy as np
import pytest
from conftest import assert_round_trips, run_mexit
from mexit_tf.converters.bundle_export import export_bundle

import mexit_tf
from mexit_tf.data.audio_visual_counting import audio_visual_counting_splits, mix_voices
from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy
from mexit_tf.layers.log_mel_spectrogram import LogMelSpectrogram
from mexit_tf.runtime.cascade import Cascade
from mexit_tf.training import fit_copycat
from mexit_tf.training.regimes import apply_regime, layer_wise_phases

FRONTEND = dict(num_samples=544, sample_rate=8000, frame_length=64, frame_step=32,
                num_mel_bins=8, peak_normalize=False)


def audio_backbone(layer_prefix="audio_"):
    return mexit_tf.ViTBackbone(frontend=LogMelSpectrogram(**FRONTEND), patch_size=(4, 4),
                                hidden_dim=8, num_layers=1, num_heads=2, mlp_dim=16,
                                layer_prefix=layer_prefix)


def tiny_av_model(exits=(1, 2), audio_exits=(2,), num_outputs=1):
    keras.utils.set_random_seed(0)
    visual = mexit_tf.ViTBackbone((16, 16, 1), 4, 16, 3, 2, 32)
    return mexit_tf.AudioVisualModel(
        visual, audio_backbone(), exits={b: "sl_vit" for b in exits},
        audio_exits={b: "sl_vit" for b in audio_exits}, num_outputs=num_outputs)


def pairs(count=24, seed=0):
    """Canvases and sounds whose loudness and brightness both grow with the target."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 4, count).astype("float32")
    image = (rng.uniform(0, 60, (count, 16, 16, 1)) * (1 + counts[:, None, None, None]))
    waveform = rng.normal(size=(count, 544)) * 0.05 * (1 + counts[:, None])
    return {"image": image.astype("float32"), "waveform": waveform.astype("float32")}, counts


@pytest.fixture(scope="module")
def trained():
    model = tiny_av_model()
    x, y = pairs()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model


def test_exits_run_in_cascade_order_and_the_model_round_trips(trained, tmp_path):
    assert trained.exit_names == ["exit_1", "exit_2", "exit_2_av", "final"]
    assert trained.exit_uses_audio == [False, False, True, True]
    assert sorted(trained.input) == ["image", "waveform"]
    assert_round_trips(trained, pairs(4)[0], tmp_path / "av.keras")


def test_only_audio_visual_exits_hear_the_audio(trained):
    x, _ = pairs(4)
    louder = {**x, "waveform": x["waveform"] * 3}
    before, after = trained.predict(x, verbose=0), trained.predict(louder, verbose=0)
    for name, uses_audio in zip(trained.exit_names, trained.exit_uses_audio, strict=True):
        changed = not np.allclose(before[name], after[name], atol=1e-6)
        assert changed == uses_audio, name


def test_an_audio_backbone_without_a_prefix_is_renamed_with_its_weights():
    keras.utils.set_random_seed(0)
    plain = audio_backbone(layer_prefix="")
    waveform = pairs(2)[0]["waveform"]
    want = plain.predict(waveform, verbose=0)
    model = mexit_tf.AudioVisualModel(mexit_tf.ViTBackbone((16, 16, 1), 4, 16, 2, 2, 32), plain,
                                      exits={1: "sl_vit"}, num_outputs=1)
    assert model.audio_backbone.layer_prefix == "audio_"
    np.testing.assert_allclose(model.audio_backbone.predict(waveform, verbose=0), want,
                               atol=1e-6)


def test_bad_audio_visual_input_is_refused_by_name(trained):
    x, y = pairs(8)
    with pytest.raises(MexitError, match="Mismatched image/audio pairs: 8 images but 7"):
        trained.fit({**x, "waveform": x["waveform"][:7]}, y, verbose=0)
    with pytest.raises(MexitError, match=r"keys 'image' and 'waveform'; received \['image'\]"):
        trained.evaluate({"image": x["image"]}, y, verbose=0)
    with pytest.raises(MexitError, match=r"keys 'image' and 'waveform'; received ndarray"):
        trained.fit(x["image"], y, verbose=0)
    # A dataset of dict pairs is Keras' to batch and check: it trains.
    import tensorflow as tf

    history = trained.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), epochs=1,
                          verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    with pytest.raises(MexitError, match="head 'mlp_ee' cannot take the audio token"):
        mexit_tf.AudioVisualModel(mexit_tf.ViTBackbone((16, 16, 1), 4, 16, 2, 2, 32),
                                  audio_backbone(), exits={}, audio_exits={1: "mlp_ee"},
                                  num_outputs=1)
    with pytest.raises(MexitError, match="audio_backbone must be a ViTBackbone with an audio"):
        mexit_tf.AudioVisualModel(trained.backbone, trained.backbone, exits={}, num_outputs=1)
    with pytest.raises(MexitError, match="int8-static export of audio-visual models"):
        export_bundle(trained, "unused", (x, y), quantize="int8-static", progress=False)
    with pytest.raises(MexitError, match="Layer-wise training splits one ViT"):
        layer_wise_phases(trained)


def test_bundle_matches_keras_and_skips_the_audio_branch(trained, tmp_path):
    x, y = pairs(16, seed=1)
    manifest = export_bundle(trained, tmp_path / "av", (x, y), progress=False, latency_runs=3,
                             target_loss=0.5)
    assert manifest["input"]["kind"] == "audiovisual"
    assert [part["name"] for part in manifest["input"]["parts"]] == ["image", "waveform"]
    roles = [([i["role"] for i in s["inputs"]], [o["role"] for o in s["outputs"]])
             for s in manifest["stages"]]
    assert roles == [(["image"], ["logits", "hidden"]), (["hidden"], ["logits", "hidden"]),
                     (["hidden", "waveform"], ["logits", "audio_token"]),
                     (["hidden", "audio_token"], ["logits"])]
    assert [s["runs_audio_branch"] for s in manifest["stages"]] == [False, False, True, False]
    assert all(row["max_relative_error"] <= 1e-4 for row in manifest["parity"].values())

    cascade = Cascade(tmp_path / "av")
    outputs, _ = cascade.run_all(x, progress=False)
    want = trained.predict(x, verbose=0)
    for name, got in zip(cascade.exit_names, outputs, strict=True):
        np.testing.assert_allclose(got, want[name], rtol=1e-4, atol=1e-4)
    # A policy that stops at exit 2 never reads the waveform: NaN there changes nothing.
    stop_at_2 = Cascade(tmp_path / "av", policy=_stopping_at(1, 4))
    deaf = stop_at_2.predict({"image": x["image"][0], "waveform": np.full(544, np.nan)})
    assert deaf.exit_name == "exit_2" and len(deaf.stage_latencies_ms) == 2
    assert np.isfinite(deaf.output).all()
    heard = Cascade(tmp_path / "av", policy=_stopping_at(2, 4)).predict(
        {"image": x["image"][0], "waveform": x["waveform"][0]})
    assert heard.exit_name == "exit_2_av"
    np.testing.assert_allclose(heard.output, want["exit_2_av"][0], rtol=1e-4, atol=1e-4)
    with pytest.raises(MexitError, match=r"takes a dict with \['image', 'waveform'\]"):
        cascade.predict(x["image"][0])


def _stopping_at(index, count):
    """A fixed-depth policy: every input leaves at exit `index`."""
    return ExitPolicy.from_dict({"type": "budget", "budget": float(index + 1),
                                 "stage_costs": [1.0] * count})


def test_copycat_trains_the_exits_and_leaves_both_encoders_alone(trained):
    x, _ = pairs(16)
    frozen = [w.numpy().copy() for encoder in trained.encoders for w in encoder.weights]
    heads = [w.numpy().copy() for w in trained.exit_heads[-1].weights]
    fit_copycat(trained, x, epochs=1, batch_size=8, run_eagerly=True, verbose=0)
    after = [w.numpy() for encoder in trained.encoders for w in encoder.weights]
    assert all(np.array_equal(a, b) for a, b in zip(frozen, after, strict=True))
    assert any(not np.array_equal(a, w.numpy())
               for a, w in zip(heads, trained.exit_heads[-1].weights, strict=True))
    apply_regime(trained, "end_to_end")
    assert all(encoder.trainable for encoder in trained.encoders)


def test_voice_mixes_grow_louder_with_the_count():
    clips = np.random.default_rng(0).normal(size=(5, 400)).astype("float32") * 0.3
    counts = np.array([0, 1, 3, 6, 9] * 20)
    mixes = mix_voices(clips, counts, seed=1)
    assert mixes.shape == (100, 400) and not mixes[counts == 0].any()
    rms = [np.sqrt((mixes[counts == k] ** 2).mean()) for k in (1, 3, 6, 9)]
    assert rms == sorted(rms) and np.abs(mixes).max() <= 1.0
    with pytest.raises(MexitError, match=r"\(N, samples\) array; received shape \(400,\)"):
        mix_voices(clips[0], counts)


def test_audio_visual_counting_splits_pair_each_canvas_with_its_voices():
    rng = np.random.default_rng(0)
    items = DatasetSplits(*(rng.integers(0, 256, (20, 28, 28)).astype("uint8")
                            if i % 2 == 0 else np.zeros(20) for i in range(6)), source="toy")
    clips = tuple(rng.normal(size=(4, 300)).astype("float32") * 0.3 for _ in range(3))
    data = audio_visual_counting_splits(items, clips, 12, 6, 6, max_items=5)
    assert data.x_train["image"].shape == (12, 64, 64, 1) and data.image_shape == (64, 64, 1)
    assert data.x_val["waveform"].shape == (6, 300) and "SYNTHETIC" in data.source
    silent = data.y_train == 0
    assert not data.x_train["waveform"][silent].any() and not data.x_train["image"][silent].any()
    assert data.x_train["waveform"][~silent].any(axis=1).all()
    with pytest.raises(MexitError, match="received 2 of them"):
        audio_visual_counting_splits(items, clips[:2], 12, 6, 6)


def test_the_cli_refuses_audio_visual_models_by_name(trained, tmp_path):
    trained.save(tmp_path / "av.keras")
    refused = run_mexit("export", tmp_path / "av.keras", "--out", tmp_path / "bundle")
    assert refused.returncode != 0 and "takes image/audio pairs" in refused.stderr
    assert "Traceback" not in refused.stderr and not (tmp_path / "bundle").exists()
