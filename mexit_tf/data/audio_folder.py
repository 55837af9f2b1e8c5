"""Folders of WAV clips per class -> fixed-length mono waveforms at one sample rate.

The layout is keras' `audio_dataset_from_directory` one (`root/<class>/*.wav`,
classes in sorted order). Clips at another sample rate are resampled (and
counted, so the caller can say so); clips with more than one channel, empty
clips and silent clips are refused by name, since none of them is what a
phone's microphone path hands the model.
"""

import wave
from math import gcd
from pathlib import Path

import numpy as np

from mexit_tf.errors import MexitError

SILENCE_PEAK = 1e-3  # below this peak amplitude (full scale 1.0) a clip carries no signal


def read_wav(path, mix_down: bool = False) -> tuple[np.ndarray, int]:
    """`(samples in [-1, 1] as float32, sample_rate)` of a mono PCM WAV file.

    A file with more channels is refused, or with `mix_down` averaged to mono.
    """
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as reader:
            channels, width = reader.getnchannels(), reader.getsampwidth()
            rate, frames = reader.getframerate(), reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        raise MexitError(f"{path} is not a PCM WAV file ({error}).") from None
    if channels != 1 and not mix_down:
        raise MexitError(f"{path} has {channels} channels; the model takes mono audio. "
                         "Mix it down to one channel first.")
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(frames, np.uint8).astype("float32") - 128.0) / 128.0
    elif width in (2, 4):
        dtype = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(frames, dtype).astype("float32") / float(np.iinfo(dtype).max)
    else:
        raise MexitError(f"{path} has {8 * width}-bit samples; 8, 16 or 32-bit PCM is supported.")
    if channels != 1:
        samples = samples[:len(samples) // channels * channels].reshape(-1, channels).mean(1)
    if samples.size == 0:
        raise MexitError(f"{path} is empty (0 samples).")
    if np.abs(samples).max() < SILENCE_PEAK:
        raise MexitError(f"{path} is silent (peak amplitude {np.abs(samples).max():.1e}).")
    return samples, rate


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Polyphase resampling with an anti-aliasing filter (scipy's `resample_poly`)."""
    if from_rate == to_rate:
        return samples
    from scipy.signal import resample_poly

    divisor = gcd(int(from_rate), int(to_rate))
    return resample_poly(samples, to_rate // divisor, from_rate // divisor).astype("float32")


def fit_length(samples: np.ndarray, num_samples: int, trim: bool = True) -> np.ndarray:
    """Centres the clip's sound (between its first and last loud sample) in `num_samples`.

    Longer sound is cut around its centre; shorter sound is zero-padded on both
    sides, so the word sits in the middle of the window whatever its duration.
    `trim=False` keeps the clip whole (ambient sound has no silence to trim).
    """
    sound = samples
    if trim:
        loud = np.flatnonzero(np.abs(samples) >= 0.05 * np.abs(samples).max())
        sound = samples[loud[0]:loud[-1] + 1]
    if len(sound) >= num_samples:
        start = (len(sound) - num_samples) // 2
        return sound[start:start + num_samples].astype("float32")
    out = np.zeros(num_samples, "float32")
    start = (num_samples - len(sound)) // 2
    out[start:start + len(sound)] = sound
    return out


def load_clip(path, sample_rate: int, num_samples: int, trim: bool = True,
              mix_down: bool = False, resample_audio: bool = True) -> tuple[np.ndarray, int]:
    """One WAV file as `num_samples` at `sample_rate`; returns `(samples, its own rate)`.

    Another rate is resampled, or with `resample_audio=False` refused by name.
    `trim`, `mix_down`: see `fit_length` and `read_wav`.
    """
    samples, rate = read_wav(path, mix_down=mix_down)
    if rate != sample_rate:
        if not resample_audio:
            raise MexitError(f"{path} is sampled at {rate} Hz; the model takes {sample_rate} Hz.")
        samples = resample(samples, rate, sample_rate)
    return fit_length(samples, num_samples, trim=trim), rate


def load_audio_folder(directory, sample_rate: int, num_samples: int, resample_audio=True):
    """Every `*.wav` under `directory/<class>/` -> `(waveforms, labels, class_names, resampled)`.

    `waveforms` is `(N, num_samples)` float32, `labels` int32 class indices,
    `resampled` the number of clips that came at another sample rate (with
    `resample_audio=False` such a clip is refused instead).
    """
    root = Path(directory)
    if not root.is_dir():
        raise MexitError(f"Audio folder {str(root)!r} does not exist.")
    class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not class_names:
        raise MexitError(f"{root} has no class sub-folders (expected {root}/<class>/*.wav).")
    waveforms, labels, resampled = [], [], 0
    for label, name in enumerate(class_names):
        for path in sorted((root / name).glob("*.wav")):
            clip, rate = load_clip(path, sample_rate, num_samples,
                                   resample_audio=resample_audio)
            waveforms.append(clip)
            labels.append(label)
            resampled += rate != sample_rate
    if not waveforms:
        raise MexitError(f"No .wav files under {root}/<class>/.")
    return np.stack(waveforms), np.asarray(labels, "int32"), class_names, resampled
