"""Own images: layouts, splits, decoding (16-bit, alpha, bad files) and labels by name."""

import numpy as np
import pytest
from PIL import Image

from mexit_tf.data.class_names import match_class_names
from mexit_tf.data.image_file import read_image_file
from mexit_tf.data.image_folder import load_image_folder
from mexit_tf.errors import MexitError


def _images(folder, count, size=(8, 8), channels=3, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        shape = (*size, channels) if channels > 1 else size
        Image.fromarray(rng.integers(0, 256, shape).astype("uint8")).save(folder / f"{i}.png")


def test_flat_folder_is_split_per_class_with_a_seed(tmp_path):
    _images(tmp_path / "cat", 20)
    _images(tmp_path / "dog", 10, seed=1)
    data = load_image_folder(tmp_path)
    assert [np.bincount(y).tolist() for y in (data.y_train, data.y_val, data.y_test)] == [
        [16, 8], [2, 1], [2, 1]]
    assert data.image_shape == (8, 8, 3)  # the images' own size and colour
    assert data.record["split"] == "stratified per class: 10% validation, 10% test, seed 0"
    assert data.record["class_names"] == ["cat", "dog"] and data.record["kind"] == "folder"
    again = load_image_folder(tmp_path)
    np.testing.assert_array_equal(again.x_test, data.x_test)
    other = load_image_folder(tmp_path, seed=3)
    assert not np.array_equal(other.x_test, data.x_test)
    assert "train 24 (cat 16, dog 8)" in data.split_counts()


def test_given_splits_are_used_as_given_and_a_missing_one_is_split_off(tmp_path):
    _images(tmp_path / "train" / "a", 10)
    _images(tmp_path / "train" / "b", 10, seed=1)
    _images(tmp_path / "test" / "a", 3, seed=2)
    _images(tmp_path / "test" / "b", 4, seed=3)
    data = load_image_folder(tmp_path)
    assert len(data.x_test) == 7 and len(data.x_val) == 2 and len(data.x_train) == 18
    assert "test from test/" in data.record["split"]
    assert "validation split off train/" in data.record["split"]
    _images(tmp_path / "test" / "zebra", 2)
    with pytest.raises(MexitError, match="classes that train/ lacks: zebra"):
        load_image_folder(tmp_path)


def test_sixteen_bit_images_are_scaled_not_saturated(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype="uint16")
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I")
    pixels, changes = read_image_file(tmp_path / "deep.png")
    assert pixels[..., 0].tolist() == [[0, 1, 128, 255]]
    assert changes == ["scaled I;16 (16-bit) to 8-bit"]


def test_alpha_size_and_colour_changes_are_named(tmp_path):
    Image.fromarray(np.full((6, 4, 4), 200, "uint8")).save(tmp_path / "rgba.png")
    pixels, changes = read_image_file(tmp_path / "rgba.png", size=(8, 8), channels=1)
    assert pixels.shape == (8, 8, 1)
    assert changes == ["dropped the alpha channel of RGBA", "converted RGB to L",
                       "resized 4x6 to 8x8"]


def test_bad_files_and_mixed_sizes_are_refused_by_name(tmp_path):
    _images(tmp_path / "a", 5)
    _images(tmp_path / "b", 5, size=(9, 9))
    with pytest.raises(MexitError, match=r"2 different sizes \(8x8 \(5\), 9x9 \(5\).*--image-size"):
        load_image_folder(tmp_path)
    data = load_image_folder(tmp_path, image_size=(8, 8), color_mode="grayscale")
    assert data.image_shape == (8, 8, 1)
    assert data.notes == ["10 image(s): converted RGB to L", "5 image(s): resized to 8x8"]
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(MexitError, match="broken.png: cannot decode"):
        load_image_folder(tmp_path, image_size=(8, 8))


def test_classes_match_by_name_never_by_order():
    assert match_class_names(["cat", "ant"], ["ant", "bee", "cat"], allow_subset=True).tolist() \
        == [2, 0]
    assert match_class_names(["b", "a"], ["a", "b"]).tolist() == [1, 0]
    with pytest.raises(MexitError, match="missing from the data: bee"):
        match_class_names(["cat", "ant"], ["ant", "bee", "cat"])
    with pytest.raises(MexitError, match=r"\(3 vs 10\): not among the model's labels: "
                                         "astronaut, cat, coffee"):
        match_class_names(["astronaut", "cat", "coffee"], [str(i) for i in range(10)])


def test_links_that_loop_or_leave_the_folder_are_skipped_and_counted(tmp_path):
    root = tmp_path / "data"
    for name in ("ant", "bee"):
        _images(root / name, 4)
    outside = tmp_path / "secret.png"
    Image.fromarray(np.zeros((8, 8, 3), "uint8")).save(outside)
    (root / "ant" / "leak.png").symlink_to(outside)
    (root / "bee" / "loop.png").symlink_to(root / "bee" / "loop.png")
    (root / "bee" / "back").symlink_to(root / "bee", target_is_directory=True)
    (root / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    data = load_image_folder(root, validation_fraction=0.25, test_fraction=0.25)
    assert data.class_names == ["ant", "bee"]
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == 8
    assert any(note.startswith("ignored 3 file(s)") for note in data.notes), data.notes


def test_the_resize_rule_gives_hand_computed_values():
    from mexit_tf.data.image_file import resize_bilinear

    # Half-pixel centres: output pixel i samples input position (i + 0.5) * 2 / 4 - 0.5.
    assert resize_bilinear(np.array([[0, 255]], np.uint8), (1, 4)).tolist() == \
        [[0, 64, 191, 255]]
    # Down 4x4 -> 2x2: each output is the mean of a 2x2 block (centres fall between).
    block = np.arange(16, dtype=np.uint8).reshape(4, 4) * 10
    assert resize_bilinear(block, (2, 2)).tolist() == [[25, 45], [105, 125]]
    rgb = np.stack([block, block // 2, 255 - block], axis=-1)
    assert resize_bilinear(rgb, (2, 2))[..., 2].tolist() == [[230, 210], [150, 130]]
