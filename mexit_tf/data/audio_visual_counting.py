"""Audio-visual counting: counting canvases paired with a sound of as many voices.

SYNTHETIC COMPOSITION. Each canvas of k items (`counting_canvas`) is paired
with a waveform of k spoken clips, each shifted by a random offset and scaled
by a random gain, summed over silence. The sound is informative but not
exact: voices overlap, so how many there are shows in loudness and texture
rather than in a count of words. Clips of a split come from that split's
voices only (`spoken_digits` splits by held-out voice variant).
"""

import numpy as np

from mexit_tf.data.counting_canvas import make_counting_canvases
from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.errors import MexitError


def mix_voices(clips: np.ndarray, counts, max_shift: int | None = None,
               gain=(0.5, 1.0), scale: float = 0.1, seed: int = 0) -> np.ndarray:
    """`(len(counts), samples)` float32: per entry, `k` random `clips` summed.

    Each clip is shifted by up to `max_shift` samples either way (default a
    quarter of its length; what falls off the end is dropped) and scaled by
    a gain uniform in `gain`; the sum is multiplied by `scale` so 9 loud
    voices stay within -1..1. A count of 0 gives silence.
    """
    clips = np.asarray(clips, dtype="float32")
    counts = np.asarray(counts).astype(int).reshape(-1)
    if clips.ndim != 2 or len(clips) == 0:
        raise MexitError(f"Clips must be a non-empty (N, samples) array; received shape "
                         f"{clips.shape}.")
    if counts.size and counts.min() < 0:
        raise MexitError(f"Counts must be >= 0; received {counts.min()}.")
    length = clips.shape[1]
    max_shift = length // 4 if max_shift is None else int(max_shift)
    rng = np.random.default_rng(seed)
    mixes = np.zeros((len(counts), length), "float32")
    for row, k in enumerate(counts):
        for _ in range(k):
            clip = clips[rng.integers(len(clips))] * rng.uniform(*gain)
            shift = int(rng.integers(-max_shift, max_shift + 1))
            if shift >= 0:
                mixes[row, shift:] += clip[:length - shift]
            else:
                mixes[row, :shift] += clip[-shift:]
    return np.clip(mixes * scale, -1.0, 1.0)


def audio_visual_counting_splits(items: DatasetSplits, clips: tuple, train: int,
                                 validation: int, test: int, max_items: int = 9,
                                 placement: str = "random", seed: int = 0) -> DatasetSplits:
    """Splits whose inputs are `{"image": canvases, "waveform": voice mixes}`, target k.

    `items` gives each split's Fashion-MNIST items; `clips` is `(train,
    validation, test)` arrays of spoken clips `(N, samples)`, from disjoint
    voices.
    """
    if len(clips) != 3:
        raise MexitError(f"clips must be (train, validation, test) arrays; received "
                         f"{len(clips)} of them.")
    made = []
    for offset, (x, n, voices) in enumerate(zip(
            (items.x_train, items.x_val, items.x_test), (train, validation, test), clips,
            strict=True)):
        canvases, counts = make_counting_canvases(x, n, max_items, seed=seed + offset,
                                                  placement=placement)
        sound = mix_voices(voices, counts, seed=seed + 100 + offset)
        made += [{"image": canvases, "waveform": sound}, counts]
    return DatasetSplits(*made, class_names=[],
                         source=f"SYNTHETIC audio-visual counting: canvases of 0..{max_items} "
                                f"items ({placement} placement) of {items.source}, each with "
                                "as many overlapping spoken clips")
