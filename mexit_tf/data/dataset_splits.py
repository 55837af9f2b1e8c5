from dataclasses import dataclass, field

import numpy as np


@dataclass
class DatasetSplits:
    """In-memory train / validation / test arrays with their labels and provenance.

    Images are raw pixel values (uint8, NHWC); labels are class indices (or
    regression targets). Paired inputs (audio-visual) are dicts of arrays
    `{"image", "waveform"}`. `source` says where the data came from, so results can
    say whether they are real or synthetic.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def image_shape(self) -> tuple[int, ...]:
        x = self.x_train["image"] if isinstance(self.x_train, dict) else self.x_train
        return tuple(x.shape[1:])

    def subset(self, train: int | None = None, val: int | None = None,
               test: int | None = None) -> "DatasetSplits":
        """The first `n` examples of each split (for smoke runs)."""
        return DatasetSplits(self.x_train[:train], self.y_train[:train], self.x_val[:val],
                             self.y_val[:val], self.x_test[:test], self.y_test[:test],
                             self.class_names, self.source)

    def describe(self) -> str:
        return (f"{len(self.x_train)} train / {len(self.x_val)} validation / "
                f"{len(self.x_test)} test, images {self.image_shape}, from {self.source}")
