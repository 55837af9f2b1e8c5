import os
from collections import Counter
from pathlib import Path

import numpy as np

from mexit_tf.data.dataset_splits import DatasetSplits
from mexit_tf.data.image_file import GREY_MODES, IMAGE_SUFFIXES, image_header, read_image_file
from mexit_tf.errors import MexitError

SPLIT_FOLDERS = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}


def load_image_folder(directory: str | Path, image_size: tuple[int, int] | None = None,
                      color_mode: str | None = None, validation_fraction: float = 0.1,
                      test_fraction: float = 0.1, seed: int = 0, progress=None) -> DatasetSplits:
    """Images in one sub-folder per class, as train / validation / test splits.

    Two layouts:

    - `root/train/<class>/`, `root/validation/<class>/` (or `val/`), `root/test/<class>/`:
      used as given. A missing `validation/` or `test/` is split off `train/`.
    - `root/<class>/`: split per class (stratified) with a seeded shuffle:
      `round(n * test_fraction)` images to test and `round(n * validation_fraction)`
      to validation, at least one of each; a class needs 3 images.

    `image_size=(H, W)`: images of another size are resized (bilinear). None takes
    the images' own size, which must then be the same for all. `color_mode`
    "rgb" or "grayscale"; None takes grayscale when every image is greyscale.
    16-bit images are scaled to 8 bits. Each change is listed in `notes` on the
    result; a file that does not decode is named. `progress(done, total)` is
    called while decoding.

    Example:
    >>> data = load_image_folder("flowers", image_size=(64, 64))
    >>> data.class_names, data.record["split"]
    (['daisy', 'rose'], 'stratified per class: 10% validation, 10% test, seed 0')
    """
    root = Path(directory)
    if not root.is_dir():
        raise MexitError(f"Data folder {str(root)!r} does not exist or is not a folder.")
    splits, rule, notes = _find_splits(root, validation_fraction, test_fraction, seed)
    class_names = sorted(splits["train"])
    files = [path for split in splits.values() for paths in split.values() for path in paths]
    headers = {path: image_header(path) for path in files}
    size, channels = _choose_shape(root, headers, image_size, color_mode, notes)
    arrays, changes, done = {}, Counter(), 0
    for name, split in splits.items():
        images, labels = [], []
        for label, paths in split.items():
            for path in paths:
                pixels, changed = read_image_file(path, size, channels)
                changes.update(_kind_of(change) for change in changed)
                images.append(pixels)
                labels.append(class_names.index(label))
                done += 1
                if progress is not None and (done % 500 == 0 or done == len(files)):
                    progress(done, len(files))
        arrays[name] = (np.stack(images), np.asarray(labels, dtype="int32"))
    notes += [f"{count} image(s): {kind}" for kind, count in sorted(changes.items())]
    color = "grayscale" if channels == 1 else "rgb"
    record = {"kind": "folder", "path": str(root.resolve()), "image_size": list(size),
              "color_mode": color, "class_names": class_names, "split": rule, "seed": seed}
    return DatasetSplits(*arrays["train"], *arrays["validation"], *arrays["test"], class_names,
                         f"image folder {root}", record=record, notes=notes)


def _kind_of(change: str) -> str:
    """'resized 640x480 to 32x32' -> 'resized to 32x32': counts group by kind."""
    words = change.split()
    return " ".join([words[0], *words[-2:]]) if words[0] == "resized" else change


def _class_files(folder: Path) -> tuple[dict[str, list[Path]], int]:
    """Image files per class folder; what is not an image, and links that leave the data
    folder or loop, are counted as ignored (never followed)."""
    classes, ignored = {}, 0
    inside = folder.resolve()
    for sub in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if not sub.is_dir() or not _stays_inside(sub, inside):
            ignored += not sub.is_dir() or sub.is_symlink()
            continue
        paths = []
        # os.walk does not follow linked folders, so a link loop cannot recurse.
        for parent, folders, names in os.walk(sub):
            folders[:] = sorted(name for name in folders if not name.startswith("."))
            for name in sorted(names):
                path = Path(parent) / name
                if name.startswith("."):
                    continue
                if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and \
                        _stays_inside(path, inside):
                    paths.append(path)
                else:
                    ignored += 1
        classes[sub.name] = sorted(paths)
    return classes, ignored


def _stays_inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(folder)
    except (OSError, RuntimeError):  # a broken link, or a loop of links
        return False


def _find_splits(root, validation_fraction, test_fraction, seed):
    given = {split: next((root / name for name in names if (root / name).is_dir()), None)
             for split, names in SPLIT_FOLDERS.items()}
    notes = []
    if given["train"] is None:
        if given["test"] is not None or given["validation"] is not None:
            raise MexitError(f"{root} has {'test/' if given['test'] else 'validation/'} but no "
                             "train/ folder: give train/ too, or one sub-folder per class.")
        classes, ignored = _class_files(root)
        _check_classes(root, classes)
        splits = _stratified(root, classes, validation_fraction, test_fraction, seed)
        rule = (f"stratified per class: {validation_fraction:.0%} validation, "
                f"{test_fraction:.0%} test, seed {seed}")
    else:
        splits, ignored = {}, 0
        for split, folder in given.items():
            if folder is not None:
                splits[split], skipped = _class_files(folder)
                ignored += skipped
        classes = splits["train"]
        _check_classes(given["train"], classes)
        for split in ("validation", "test"):
            extra = sorted(set(splits.get(split, {})) - set(classes))
            if extra:
                raise MexitError(f"{given[split]} has classes that train/ lacks: "
                                 f"{', '.join(extra)}.")
        missing = [split for split in ("validation", "test") if split not in splits]
        if missing:
            cut = _stratified(given["train"], classes,
                              validation_fraction if "validation" in missing else 0.0,
                              test_fraction if "test" in missing else 0.0, seed)
            splits["train"] = cut["train"]
            for split in missing:
                splits[split] = cut[split]
        rule = "given: " + ", ".join(
            f"{split} from {given[split].name}/" if given[split] is not None else
            f"{split} split off train/ per class ({(validation_fraction if split == 'validation' else test_fraction):.0%}, seed {seed})"  # noqa: E501
            for split in SPLIT_FOLDERS)
    if ignored:
        notes.append(f"ignored {ignored} file(s) that are not images (by their suffix) or "
                     "links that leave the folder or loop")
    for split in ("validation", "test"):
        if not any(splits[split].values()):
            raise MexitError(f"The {split} split of {root} is empty.")
    return splits, rule, notes


def _check_classes(root, classes):
    if not classes:
        raise MexitError(f"No class folders in {root}: expected {root}/<class>/*.png "
                         f"(or train/<class>/, validation/<class>/, test/<class>/).")
    empty = [name for name, paths in classes.items() if not paths]
    if empty:
        raise MexitError(f"Class folder(s) without images in {root}: {', '.join(empty)} "
                         f"(images end in {', '.join(IMAGE_SUFFIXES)}).")


def _stratified(root, classes, validation_fraction, test_fraction, seed):
    """Per class, a seeded shuffle; the first images go to test, the next to validation."""
    splits = {"train": {}, "validation": {}, "test": {}}
    for index, (name, paths) in enumerate(sorted(classes.items())):
        counts = [max(1, round(len(paths) * fraction)) if fraction else 0
                  for fraction in (test_fraction, validation_fraction)]
        if len(paths) < sum(counts) + 1:
            raise MexitError(f"Class {name!r} in {root} has {len(paths)} image(s); splitting it "
                             f"three ways needs at least {sum(counts) + 1}.")
        order = np.random.default_rng([seed, index]).permutation(len(paths))
        shuffled = [paths[i] for i in order]
        splits["test"][name] = shuffled[:counts[0]]
        splits["validation"][name] = shuffled[counts[0]:sum(counts)]
        splits["train"][name] = shuffled[sum(counts):]
    return splits


def _choose_shape(root, headers, image_size, color_mode, notes):
    if color_mode not in (None, "rgb", "grayscale"):
        raise MexitError(f"color_mode must be 'rgb' or 'grayscale'; received {color_mode!r}.")
    if color_mode is None:
        grey = all(mode in GREY_MODES for _, mode in headers.values())
        color_mode = "grayscale" if grey else "rgb"
        notes.append(f"colour mode {color_mode} (every image is greyscale)" if grey else
                     "colour mode rgb (the images are in colour)")
    if image_size is None:
        sizes = Counter(size for size, _ in headers.values())
        if len(sizes) > 1:
            common = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sizes.most_common(3))
            raise MexitError(f"Images in {root} have {len(sizes)} different sizes ({common}, "
                             "...); pass --image-size H,W to resize them to one.")
        (width, height), = sizes
        image_size = (height, width)
        notes.append(f"image size {height}x{width} (every image has it)")
    return tuple(image_size), 1 if color_mode == "grayscale" else 3
