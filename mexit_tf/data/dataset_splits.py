from dataclasses import dataclass, field

import numpy as np


@dataclass
class DatasetSplits:
    """In-memory train / validation / test arrays with their labels and provenance.

    Images are raw pixel values (uint8, NHWC); labels are class indices (or
    regression targets). Paired inputs (audio-visual) are dicts of arrays
    `{"image", "waveform"}`. `source` says where the data came from, so results can
    say whether they are real or synthetic. `record` is the same as plain values
    (kind, path, image size, colour mode, class names, split rule, seed): a model
    keeps it and later commands reload the data from it. `notes` lists what was
    adapted on loading (resized, converted, scaled), for the user to see.
    `per_example` holds optional arrays with one value per example, by split
    (`{"train": {"severity": array, ...}, "validation": ..., "test": ...}`), so
    results can be broken down by them; `subset` keeps them aligned.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    source: str = ""
    record: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    per_example: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, ...]:
        x = self.x_train["image"] if isinstance(self.x_train, dict) else self.x_train
        return tuple(x.shape[1:])

    def subset(self, train: int | None = None, val: int | None = None,
               test: int | None = None) -> "DatasetSplits":
        """The first `n` examples of each split (for smoke runs)."""
        counts = {"train": train, "validation": val, "test": test}
        per_example = {split: {key: values[:counts[split]] for key, values in columns.items()}
                       for split, columns in self.per_example.items()}
        return DatasetSplits(self.x_train[:train], self.y_train[:train], self.x_val[:val],
                             self.y_val[:val], self.x_test[:test], self.y_test[:test],
                             self.class_names, self.source, self.record, self.notes,
                             per_example)

    def split_counts(self) -> str:
        """'train 80 / validation 10 / test 10' with per-class counts for classifiers."""
        lines = []
        for name, labels in (("train", self.y_train), ("validation", self.y_val),
                             ("test", self.y_test)):
            line = f"{name} {len(labels)}"
            if self.class_names:
                counts = np.bincount(np.asarray(labels).astype(int).ravel(),
                                     minlength=len(self.class_names))
                line += " (" + ", ".join(f"{c} {n}" for c, n in zip(
                    self.class_names, counts, strict=True)) + ")"
            lines.append(line)
        return "; ".join(lines)

    def describe(self) -> str:
        return (f"{len(self.x_train)} train / {len(self.x_val)} validation / "
                f"{len(self.x_test)} test, images {self.image_shape}, from {self.source}")
