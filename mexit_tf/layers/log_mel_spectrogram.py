import keras
import numpy as np
from keras import ops


def _hertz_to_mel(hertz):
    return 2595.0 * np.log10(1.0 + np.asarray(hertz, dtype="float64") / 700.0)


def mel_filterbank(num_mel_bins, num_fft_bins, sample_rate, lower_hertz, upper_hertz):
    """`(num_fft_bins, num_mel_bins)` triangular filters, evenly spaced on the HTK mel scale."""
    fft_hertz = np.linspace(0.0, sample_rate / 2.0, num_fft_bins)
    edges = np.linspace(_hertz_to_mel(lower_hertz), _hertz_to_mel(upper_hertz), num_mel_bins + 2)
    fft_mel = _hertz_to_mel(fft_hertz)[:, None]
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (fft_mel - lower) / (center - lower)
    falling = (upper - fft_mel) / (upper - center)
    return np.maximum(0.0, np.minimum(rising, falling)).astype("float32")


@keras.saving.register_keras_serializable(package="mexit_tf")
class LogMelSpectrogram(keras.layers.Layer):
    """Waveform `(batch, num_samples)` -> log-mel spectrogram `(batch, frames, mels, 1)`.

    The short-time Fourier transform is one strided convolution whose fixed
    kernel holds the Hann-windowed cosine and sine of every frequency bin, so
    the layer converts to builtin TFLite ops that XNNPACK runs (CONV_2D, MUL,
    ADD, FULLY_CONNECTED, LOG): it lives inside an exported stage 0 and a phone
    feeds raw samples, like raw pixels for images. keras' `MelSpectrogram`
    converts too, but through RFFT2D, REAL, IMAG and GATHER, which XNNPACK does
    not take.

    With `peak_normalize`, each clip is scaled to peak 1 first, so loudness
    does not shift the log-mel values.

    Args:
        num_samples: clip length the layer takes.
        sample_rate: of the clips, in Hz.
        frame_length, frame_step: STFT window and hop, in samples.
        num_mel_bins: output mel channels.
        lower_hertz, upper_hertz: the mel filters' range (upper defaults to Nyquist).
        peak_normalize: scale each clip to peak amplitude 1.

    Example:
    >>> layer = LogMelSpectrogram(num_samples=8320, sample_rate=8000)
    >>> layer(keras.ops.zeros((2, 8320))).shape
    (2, 64, 40, 1)
    """

    def __init__(self, num_samples, sample_rate=8000, frame_length=256, frame_step=128,
                 num_mel_bins=40, lower_hertz=60.0, upper_hertz=None, peak_normalize=True,
                 **kwargs):
        super().__init__(**kwargs)
        if num_samples < frame_length:
            raise ValueError(f"num_samples ({num_samples}) is shorter than one frame "
                             f"({frame_length} samples).")
        self.num_samples = int(num_samples)
        self.sample_rate = int(sample_rate)
        self.frame_length = int(frame_length)
        self.frame_step = int(frame_step)
        self.num_mel_bins = int(num_mel_bins)
        self.lower_hertz = float(lower_hertz)
        self.upper_hertz = float(upper_hertz or sample_rate / 2.0)
        self.peak_normalize = bool(peak_normalize)
        self.num_frames = 1 + (self.num_samples - self.frame_length) // self.frame_step
        num_bins = self.frame_length // 2 + 1
        # Constants, not weights: the config alone rebuilds them exactly.
        time = np.arange(self.frame_length)[:, None]
        angle = 2.0 * np.pi * time * np.arange(num_bins)[None, :] / self.frame_length
        window = np.hanning(self.frame_length + 1)[:-1, None]  # periodic Hann
        basis = np.concatenate([window * np.cos(angle), window * -np.sin(angle)], axis=1)
        self._stft_kernel = basis[:, None, :].astype("float32")
        self._mel_matrix = mel_filterbank(self.num_mel_bins, num_bins, self.sample_rate,
                                          self.lower_hertz, self.upper_hertz)
        self._num_bins = num_bins
        self.raw_input_shape = (self.num_samples,)

    def call(self, waveform):
        waveform = ops.cast(waveform, "float32")
        if self.peak_normalize:
            peak = ops.max(ops.abs(waveform), axis=-1, keepdims=True)
            waveform = waveform / ops.maximum(peak, 1e-6)
        spectrum = ops.conv(waveform[..., None], ops.convert_to_tensor(self._stft_kernel),
                            strides=self.frame_step, padding="valid")
        real, imaginary = spectrum[..., :self._num_bins], spectrum[..., self._num_bins:]
        power = real * real + imaginary * imaginary
        mel = ops.matmul(power, ops.convert_to_tensor(self._mel_matrix))
        return ops.log(mel + 1e-6)[..., None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_frames, self.num_mel_bins, 1)

    def get_config(self):
        config = super().get_config()
        config.update(num_samples=self.num_samples, sample_rate=self.sample_rate,
                      frame_length=self.frame_length, frame_step=self.frame_step,
                      num_mel_bins=self.num_mel_bins, lower_hertz=self.lower_hertz,
                      upper_hertz=self.upper_hertz, peak_normalize=self.peak_normalize)
        return config
