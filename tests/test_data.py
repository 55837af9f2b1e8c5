import gzip

import numpy as np
import pytest
from PIL import Image

import mexit_tf
from mexit_tf.data import ArrayBatches, build_augmentation, load_image_folder
from mexit_tf.data import fashion_mnist as fmnist


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype("uint8").tobytes())


def _fake_fashion_mnist(folder, train=40, test=10):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in fmnist._FILES.items():
        count = train if "train" in key else test
        shape = (count, 28, 28) if key.startswith("x") else (count,)
        _write_idx(folder / name, rng.integers(0, 10 if key.startswith("y") else 256, shape))


def test_read_idx_and_truncation(tmp_path):
    array = np.arange(24).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(fmnist.read_idx(tmp_path / "a.gz"), array)
    _write_idx(tmp_path / "b.gz", array)
    with gzip.open(tmp_path / "b.gz", "rb") as handle:
        data = handle.read()
    with gzip.open(tmp_path / "b.gz", "wb") as handle:
        handle.write(data[:-5])
    with pytest.raises(mexit_tf.MexitError, match="truncated"):
        fmnist.read_idx(tmp_path / "b.gz")


def test_fashion_mnist_sources_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(fmnist, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(fmnist, "KERAS_CACHE_DIR", tmp_path / "cache")
    _fake_fashion_mnist(tmp_path / "cache")
    data = fmnist.load_fashion_mnist(validation_size=8)
    assert data.source.startswith("Keras cache")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (32, 8, 10)
    assert data.x_train.shape[1:] == (28, 28, 1) and data.x_train.dtype == np.uint8
    _fake_fashion_mnist(tmp_path / "debian")
    assert fmnist.load_fashion_mnist(validation_size=8).source.startswith("Debian package")


def test_fashion_mnist_missing_without_network(tmp_path, monkeypatch):
    import keras

    monkeypatch.setattr(fmnist, "DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr(fmnist, "KERAS_CACHE_DIR", tmp_path / "none2")

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(mexit_tf.MexitError, match="apt-get install dataset-fashion-mnist"):
        fmnist.load_fashion_mnist()


def test_image_folder_splits_without_overlap(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (tmp_path / label).mkdir()
        for i in range(10):
            pixels = rng.integers(0, 256, (12, 12, 3)).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
    data = load_image_folder(tmp_path, image_size=(8, 8))
    assert data.class_names == ["cat", "dog"]
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 20
    assert data.x_train.shape[1:] == (8, 8, 3)
    rows = {x.tobytes() for x in data.x_train}
    assert not rows & {x.tobytes() for x in data.x_test}


def test_image_folder_errors(tmp_path):
    with pytest.raises(mexit_tf.MexitError, match="does not exist"):
        load_image_folder(tmp_path / "missing", image_size=(8, 8))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(mexit_tf.MexitError, match="without images"):
        load_image_folder(tmp_path / "empty", image_size=(8, 8))


def test_array_batches_cover_every_example_once_per_epoch():
    x = np.arange(10, dtype="uint8").reshape(10, 1, 1, 1)
    batches = ArrayBatches(x, np.arange(10), batch_size=4, seed=1)
    seen = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert len(batches) == 3 and sorted(seen) == list(range(10))


def test_augmentation_changes_images_and_keeps_shape():
    augment = build_augmentation(flip=True, translate=0.2, seed=1)
    images = np.random.default_rng(0).integers(0, 256, (8, 12, 12, 1)).astype("float32")
    out = np.asarray(augment(images, training=True))
    assert out.shape == images.shape and not np.allclose(out, images)
    assert build_augmentation(flip=False) is None


def test_load_dataset_is_the_function_even_after_its_module_was_imported():
    import mexit_tf.data.dataset_loader  # noqa: F401 - the import that used to shadow it
    from mexit_tf.data import load_dataset

    assert callable(load_dataset) and load_dataset.__name__ == "load_dataset"
