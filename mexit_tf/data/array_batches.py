import keras
import numpy as np

from mexit_tf.data.example_rows import example_count, take_rows


class ArrayBatches(keras.utils.PyDataset):
    """Shuffled mini-batches of in-memory arrays, augmented with Keras layers.

    Works on every Keras backend (no tf.data needed), so the same training
    code runs on TensorFlow here and on JAX on a GPU. `augmentation` is any
    callable on an image batch, normally `build_augmentation(...)`.

    Args:
        x, y: arrays; `y` may be None (prediction) or a dict of arrays (copycat);
            `x` may be a dict of arrays too (an audio-visual model's
            `{"image", "waveform"}`: augmentation then applies to "image").
        batch_size: examples per batch (the last batch may be smaller).
        augmentation: callable applied to float32 image batches, or None.
        shuffle: reshuffle at every epoch.
        seed: seed of the shuffling.
    """

    def __init__(self, x, y=None, batch_size=128, augmentation=None, shuffle=True, seed=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.augmentation = augmentation
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(example_count(x))
        self.on_epoch_end()

    def __len__(self):
        return -(-example_count(self.x) // self.batch_size)

    def __getitem__(self, index):
        rows = np.sort(self._order[index * self.batch_size:(index + 1) * self.batch_size])
        images = take_rows(self.x, rows)
        if self.augmentation is not None:
            augment = lambda batch: keras.ops.convert_to_numpy(  # noqa: E731
                self.augmentation(batch, training=True))
            images = ({**images, "image": augment(images["image"])}
                      if isinstance(images, dict) else augment(images))
        if self.y is None:
            return (images,)
        if isinstance(self.y, dict):
            return images, {name: values[rows] for name, values in self.y.items()}
        return images, self.y[rows]

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._order)
