"""DISCO audiovisual crowd counting (Hu et al. 2020), for users who have it.

The dataset is not redistributed here; download it from
https://zenodo.org/record/3828468 (images, audio, density maps). This loader
reads the layout of the authors' code (github.com/qingzwang/AudioVisualCrowdCounting):

    ROOT/imgs/<id>.jpg          one image per scene
    ROOT/auds/<id>.wav          its one-second ambient audio clip
    ROOT/density/<split>/<id>.mat   density map under key "map"; count = its sum

with `<split>` in train, val, test. The Zenodo archives unpack to the same
three folders, possibly named `images`, `audio` and `density_maps`; both
spellings are accepted.
"""

from pathlib import Path

import numpy as np

from mexit_tf.data.audio_folder import load_clip
from mexit_tf.errors import MexitError

FOLDERS = {"images": ("imgs", "images"), "audio": ("auds", "audio"),
           "density": ("density", "density_maps")}
SPLITS = ("train", "val", "test")


def _folder(root: Path, role: str) -> Path:
    for name in FOLDERS[role]:
        if (root / name).is_dir():
            return root / name
    names = " or ".join(f"{name}/" for name in FOLDERS[role])
    raise MexitError(f"{root} is not a DISCO folder: no {names} inside (expected imgs/, "
                     "auds/ and density/<split>/).")


def load_disco_split(root, split: str, image_size: tuple[int, int], sample_rate: int,
                     num_samples: int):
    """`(images uint8 (N, H, W, 3), waveforms float32 (N, num_samples), counts float32 (N,))`.

    Images are resized to `image_size` (height, width); stereo audio is mixed
    down to mono and resampled to `sample_rate`. Every image of the split
    must have its audio clip; a missing one is named.
    """
    from PIL import Image
    from scipy.io import loadmat

    root = Path(root)
    if split not in SPLITS:
        raise MexitError(f"DISCO splits are {', '.join(SPLITS)}; received {split!r}.")
    images_dir, audio_dir = _folder(root, "images"), _folder(root, "audio")
    density_dir = _folder(root, "density") / split
    maps = sorted(density_dir.glob("*.mat"))
    if not maps:
        raise MexitError(f"No density maps (*.mat) in {density_dir}.")
    ids = [path.stem for path in maps]
    missing = [i for i in ids if not (audio_dir / f"{i}.wav").is_file()]
    missing_images = [i for i in ids if not (images_dir / f"{i}.jpg").is_file()]
    if missing or missing_images:
        what = (f"audio for {', '.join(missing[:3])}" if missing
                else f"images for {', '.join(missing_images[:3])}")
        raise MexitError(f"DISCO {split}: image/audio pairs do not match; no {what}"
                         f"{' ...' if len(missing or missing_images) > 3 else ''}.")
    images, waveforms, counts = [], [], []
    for scene, map_path in zip(ids, maps, strict=True):
        try:
            density = loadmat(map_path)["map"]
        except (KeyError, ValueError, OSError) as error:
            raise MexitError(f"{map_path} is not a DISCO density map ({error}).") from None
        counts.append(float(np.asarray(density, "float64").sum()))
        with Image.open(images_dir / f"{scene}.jpg") as image:
            resized = image.convert("RGB").resize(image_size[::-1], Image.BILINEAR)
            images.append(np.asarray(resized, "uint8"))
        waveforms.append(load_clip(audio_dir / f"{scene}.wav", sample_rate, num_samples,
                                   trim=False, mix_down=True)[0])
    return np.stack(images), np.stack(waveforms), np.asarray(counts, "float32")
