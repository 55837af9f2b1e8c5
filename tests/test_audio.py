"""Audio classification: log-mel frontend, WAV folders, spoken digits, audio bundles."""

import wave

import keras
import numpy as np
import pytest
from conftest import assert_round_trips
from mexit_tf.converters.bundle_export import export_bundle
from mexit_tf.converters.tflite_conversion import convert_to_tflite
from mexit_tf.converters.tflite_inspection import op_counts

import mexit_tf
from mexit_tf.data.audio_folder import fit_length, load_audio_folder
from mexit_tf.data.spoken_digits import load_real_prompts, synthesize
from mexit_tf.errors import MexitError
from mexit_tf.layers.log_mel_spectrogram import LogMelSpectrogram, mel_filterbank
from mexit_tf.runtime.cascade import Cascade

# 16 frames x 8 mels, patches 4x4: a 4x2 grid, i.e. not square.
FRONTEND = dict(num_samples=544, sample_rate=8000, frame_length=64, frame_step=32,
                num_mel_bins=8)
SMALL_VIT = dict(patch_size=(4, 4), hidden_dim=16, num_heads=2, mlp_dim=32)


def tiny_audio_model(heads=("sl_vit", "cnn_project"), num_classes=3):
    keras.utils.set_random_seed(0)
    backbone = mexit_tf.ViTBackbone(frontend=LogMelSpectrogram(**FRONTEND),
                                    num_layers=len(heads) + 1, **SMALL_VIT)
    return mexit_tf.MultiExitModel(backbone, exits=dict(enumerate(heads, start=1)),
                                   num_outputs=num_classes)


def tones(count, seed=0):
    """Sine bursts whose pitch says the class (0, 1, 2), plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, count).astype("int32")
    time = np.arange(FRONTEND["num_samples"]) / FRONTEND["sample_rate"]
    waves = np.sin(2 * np.pi * np.array([300.0, 900.0, 2000.0])[labels, None] * time)
    return (0.5 * waves + 0.05 * rng.normal(size=waves.shape)).astype("float32"), labels


def write_wav(path, samples, rate=8000, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.repeat(pcm, channels).tobytes())


def test_log_mel_matches_a_numpy_stft():
    layer = LogMelSpectrogram(**FRONTEND, peak_normalize=False)
    waveform = np.random.default_rng(0).normal(size=(2, FRONTEND["num_samples"])) * 0.3
    length, step = FRONTEND["frame_length"], FRONTEND["frame_step"]
    starts = range(0, FRONTEND["num_samples"] - length + 1, step)
    frames = np.stack([waveform[:, s:s + length] for s in starts], axis=1)
    power = np.abs(np.fft.rfft(frames * np.hanning(length + 1)[:-1], axis=-1)) ** 2
    filters = mel_filterbank(8, length // 2 + 1, 8000, 60.0, 4000.0)
    expected = np.log(power @ filters + 1e-6)[..., None]
    got = keras.ops.convert_to_numpy(layer(waveform.astype("float32")))
    assert got.shape == (2, 16, 8, 1) == layer.compute_output_shape((2, 544))
    np.testing.assert_allclose(got, expected, atol=2e-3)


def test_peak_normalization_makes_the_spectrogram_loudness_free():
    layer = LogMelSpectrogram(**FRONTEND)
    waveform, _ = tones(2)
    quiet, loud = (keras.ops.convert_to_numpy(layer(waveform * gain)) for gain in (0.1, 1.0))
    np.testing.assert_allclose(quiet, loud, atol=1e-3)


def test_audio_model_has_a_non_square_grid_and_round_trips(tmp_path):
    model = tiny_audio_model()
    assert model.backbone.grid_shape == (4, 2)
    assert model.backbone.input_kind == "audio" and model.input_shape == (None, 544)
    waveform, _ = tones(4)
    assert_round_trips(model, waveform, tmp_path / "audio.keras")


def test_a_wrong_image_shape_for_a_frontend_is_refused():
    with pytest.raises(MexitError, match=r"frontend emits \(16, 8, 1\); received image_shape"):
        mexit_tf.ViTBackbone(image_shape=(28, 28, 1), frontend=LogMelSpectrogram(**FRONTEND),
                             num_layers=2, **SMALL_VIT)


def test_stage_zero_computes_the_spectrogram_with_builtin_ops():
    from mexit_tf.converters.stage_builder import build_stage_models

    data = convert_to_tflite(build_stage_models(tiny_audio_model())[0])
    ops = op_counts(data)
    assert ops["CONV_2D"] >= 2 and ops["LOG"] == 1, ops  # STFT + patch embedding
    assert not [name for name in ops if name.startswith("Flex") or name == "CUSTOM"], ops


def test_audio_bundle_exports_with_parity_and_runs_in_the_cascade(tmp_path):
    model = tiny_audio_model()
    waveform, labels = tones(24)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(waveform, labels, epochs=3, batch_size=8, verbose=0)
    manifest = export_bundle(model, tmp_path / "audio", (waveform, labels),
                             labels=["low", "mid", "high"], progress=False, latency_runs=3)
    spec = manifest["input"]
    assert spec["kind"] == "audio" and spec["shape"] == [1, 544]
    assert spec["sample_rate"] == 8000 and spec["frontend"]["num_mel_bins"] == 8
    assert all(row["max_relative_error"] <= 1e-4 for row in manifest["parity"].values())
    cascade = Cascade(tmp_path / "audio")
    report = cascade.evaluate(waveform, labels, progress=False)
    # Each exit of the bundle is as accurate as the Keras model's (a near tie may flip one).
    want = model.predict(waveform, verbose=0)
    assert list(report["exit_accuracy"]) == cascade.exit_names == model.exit_names
    for name, accuracy in report["exit_accuracy"].items():
        keras_accuracy = np.mean(want[name].argmax(-1) == labels)
        assert abs(accuracy - keras_accuracy) <= 1 / 24 + 1e-9, name
    result = cascade.predict(waveform[0])
    np.testing.assert_allclose(result.output, want[result.exit_name][0], rtol=1e-4, atol=1e-4)
    assert result.label == ["low", "mid", "high"][int(want[result.exit_name][0].argmax())]
    with pytest.raises(MexitError, match="544"):
        cascade.predict(waveform[0, :500])


def test_audio_folder_resamples_and_refuses_bad_clips(tmp_path):
    burst = np.sin(np.linspace(0, 200, 4000))
    write_wav(tmp_path / "ok" / "yes" / "a.wav", burst)
    write_wav(tmp_path / "ok" / "no" / "b.wav", np.repeat(burst, 2), rate=16000)
    waves, labels, names, resampled = load_audio_folder(tmp_path / "ok", 8000, 544)
    assert waves.shape == (2, 544) and names == ["no", "yes"] and list(labels) == [0, 1]
    assert resampled == 1
    with pytest.raises(MexitError, match="b.wav is sampled at 16000 Hz; the model takes 8000"):
        load_audio_folder(tmp_path / "ok", 8000, 544, resample_audio=False)

    cases = {"stereo.wav": (burst, 2, "has 2 channels"), "empty.wav": (burst[:0], 1, "empty"),
             "silent.wav": (burst * 0, 1, "silent")}
    for name, (samples, channels, message) in cases.items():
        write_wav(tmp_path / name / "c" / name, samples, channels=channels)
        with pytest.raises(MexitError, match=f"{name}.*{message}"):
            load_audio_folder(tmp_path / name, 8000, 544)
    (tmp_path / "text" / "c").mkdir(parents=True)
    (tmp_path / "text" / "c" / "notes.wav").write_text("not audio")
    with pytest.raises(MexitError, match="notes.wav is not a PCM WAV file"):
        load_audio_folder(tmp_path / "text", 8000, 544)


def test_fit_length_centres_the_sound():
    sound = np.r_[np.zeros(300), np.ones(100), np.zeros(50)].astype("float32")
    out = fit_length(sound, 200)
    assert out.sum() == 100 and out[50:150].min() == 1.0  # sound moved to the middle
    assert fit_length(np.ones(500, "float32"), 200).shape == (200,)


def test_spoken_digits_are_synthesized_per_split_and_load(tmp_path):
    counts = synthesize(tmp_path / "digits", speeds=(175,), pitches=(50,), accents=("en-us",),
                        variants={"train": ("m1",), "test": ("f2",)}, progress=False)
    assert counts == {"train": 10, "test": 10}
    assert "SYNTHETIC" in (tmp_path / "digits" / "README.txt").read_text()
    waves, labels, names, resampled = load_audio_folder(tmp_path / "digits" / "test", 8000, 8320)
    assert names == [str(d) for d in range(10)] and waves.shape == (10, 8320)
    assert resampled == 10  # espeak-ng speaks at 22050 Hz
    assert np.abs(waves).max(axis=1).min() > 0.05  # every clip has the word in its window


def test_real_digit_prompts_load():
    waves, labels = load_real_prompts(8000, 8320)
    assert waves.shape == (10, 8320) and list(labels) == list(range(10))
    assert np.abs(waves).max(axis=1).min() > 0.05


def _disco_fixture(root, scenes=("a1", "b2", "c3"), split="train"):
    """A tiny DISCO tree: imgs/<id>.jpg, auds/<id>.wav (stereo 16 kHz), density/<split>/*.mat."""
    from PIL import Image
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    (root / "imgs").mkdir(parents=True)
    (root / "density" / split).mkdir(parents=True)
    for index, scene in enumerate(scenes):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3)).astype("uint8")).save(
            root / "imgs" / f"{scene}.jpg")
        write_wav(root / "auds" / f"{scene}.wav", 0.3 * rng.normal(size=16000), rate=16000,
                  channels=2)
        density = np.zeros((30, 40))
        density[5, 5:5 + index + 1] = 1.0  # index + 1 people
        savemat(root / "density" / split / f"{scene}.mat", {"map": density})


def test_disco_loader_reads_the_authors_layout(tmp_path):
    from mexit_tf.data.disco import load_disco_split

    _disco_fixture(tmp_path)
    images, waves, counts = load_disco_split(tmp_path, "train", (24, 32), 8000, 8000)
    assert images.shape == (3, 24, 32, 3) and images.dtype == np.uint8
    assert waves.shape == (3, 8000) and np.abs(waves).max() > 0.05
    np.testing.assert_allclose(counts, [1, 2, 3])
    with pytest.raises(MexitError, match="splits are train, val, test; received 'dev'"):
        load_disco_split(tmp_path, "dev", (24, 32), 8000, 8000)
    (tmp_path / "auds" / "b2.wav").unlink()
    with pytest.raises(MexitError, match="image/audio pairs do not match; no audio for b2"):
        load_disco_split(tmp_path, "train", (24, 32), 8000, 8000)
    with pytest.raises(MexitError, match="imgs is not a DISCO folder: no imgs/ or images/ inside"):
        load_disco_split(tmp_path / "imgs", "train", (24, 32), 8000, 8000)


def test_the_cli_exports_evaluates_and_predicts_audio(tmp_path):
    from conftest import run_mexit

    synthesize(tmp_path / "digits", speeds=(175,), pitches=(50,), accents=("en-us",),
               variants={"validation": ("m1",), "test": ("f2",)}, progress=False)
    model = tiny_audio_model(num_classes=10)
    model.save(tmp_path / "audio.keras")
    data = f"audio:{tmp_path / 'digits'}"
    exported = run_mexit("export", tmp_path / "audio.keras", "--out", tmp_path / "bundle",
                         "--data", data)
    assert exported.returncode == 0, exported.stderr[-2000:]
    evaluated = run_mexit("eval", tmp_path / "bundle", "--data", data, "--json")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert '"examples": 10' in evaluated.stdout
    clip = tmp_path / "digits" / "test" / "7" / "en-us_f2_s175_p50.wav"
    predicted = run_mexit("predict", tmp_path / "bundle", clip, "--json")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert '"clip"' in predicted.stdout and "resampled 22050 Hz to 8000 Hz" in predicted.stderr
    # Bad input: images for an audio bundle, an image dataset for an audio model.
    (tmp_path / "not.wav").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    refused = run_mexit("predict", tmp_path / "bundle", tmp_path / "not.wav")
    assert refused.returncode != 0 and "not.wav is not a PCM WAV file" in refused.stderr
    assert "Traceback" not in refused.stderr
    wrong = run_mexit("export", tmp_path / "audio.keras", "--out", tmp_path / "b2")
    assert wrong.returncode != 0 and "Pass --data audio:PATH" in wrong.stderr
    assert not (tmp_path / "b2").exists()
