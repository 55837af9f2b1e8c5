import keras
import numpy as np
import pytest
from conftest import tiny_backbone, tiny_images, tiny_labels

import mexit_tf


def test_outputs_are_ordered_by_depth_with_final_last(all_heads_model):
    outputs = all_heads_model(tiny_images(2).astype("float32"))
    assert all_heads_model.exit_names == [f"exit_{i}" for i in range(1, 9)] + ["final"]
    assert set(outputs) == set(all_heads_model.exit_names)


def test_final_exit_equals_backbone_plus_head(all_heads_model):
    x = tiny_images(4).astype("float32")
    tokens = all_heads_model.backbone(x)
    expected = all_heads_model.final_head(tokens)
    np.testing.assert_allclose(all_heads_model(x)["final"], expected, rtol=1e-5, atol=1e-6)


def test_block_outputs_feed_the_exits(all_heads_model):
    backbone = all_heads_model.backbone
    x = tiny_images(2).astype("float32")
    features = keras.Model(backbone.input, backbone.block_outputs[3])(x)
    expected = all_heads_model.exit_heads[2](features)
    np.testing.assert_allclose(all_heads_model(x)["exit_3"], expected, rtol=1e-5, atol=1e-6)


def test_keras_file_round_trip_is_exact(all_heads_model, tmp_path):
    model = all_heads_model
    model.compile()
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, mexit_tf.MultiExitModel)
    assert loaded.exit_names == model.exit_names
    x = tiny_images(3).astype("float32")
    expected, actual = model.predict(x, verbose=0), loaded.predict(x, verbose=0)
    for name in model.exit_names:
        np.testing.assert_array_equal(actual[name], expected[name])


def test_default_compile_weights_final_exit_twice():
    model = mexit_tf.MultiExitModel(tiny_backbone(), exits={1: "mlp_ee"}, num_outputs=3)
    model.compile()
    history = model.fit(tiny_images(), tiny_labels(), epochs=1, verbose=0).history
    expected = history["exit_1_loss"][0] + 2 * history["final_loss"][0]
    assert history["loss"][0] == pytest.approx(expected, rel=1e-4)
    assert {"exit_1_accuracy", "final_accuracy"} <= set(history)


@pytest.mark.parametrize("exits, message", [
    ({0: "mlp_ee"}, "out of range"),
    ({3: "mlp_ee"}, "out of range"),
    ([(1, "mlp_ee"), (1, "sl_vit")], "Two exits after block 1"),
    ({"two": "mlp_ee"}, "block numbers"),
])
def test_bad_exit_positions(exits, message):
    with pytest.raises(mexit_tf.MexitError, match=message):
        mexit_tf.MultiExitModel(tiny_backbone(num_layers=3), exits=exits, num_outputs=3)


def test_image_size_must_divide_by_patch():
    with pytest.raises(mexit_tf.MexitError, match="30x30 is not divisible by the patch size 4x4"):
        mexit_tf.ViTBackbone.from_preset("XS/4", image_shape=(30, 30, 1))


def test_unknown_size_preset():
    with pytest.raises(mexit_tf.MexitError, match="Unknown ViT size 'Q/4'"):
        mexit_tf.ViTBackbone.from_preset("Q/4")


@pytest.mark.parametrize("labels, message", [
    (np.zeros((16, 3), "int32"), r"shape \(N,\) or \(N, 1\); received shape \(16, 3\)"),
    (np.full(16, 7, "int32"), r"integers in \[0, 3\)"),
    (np.zeros(5, "int32"), "16 inputs but 5 labels"),
])
def test_bad_labels_get_one_clear_message(labels, message):
    model = mexit_tf.MultiExitModel(tiny_backbone(), exits={1: "mlp_ee"}, num_outputs=3)
    model.compile()
    with pytest.raises(mexit_tf.MexitError, match=message):
        model.fit(tiny_images(), labels, verbose=0)


def test_empty_dataset_is_refused():
    model = mexit_tf.MultiExitModel(tiny_backbone(), exits={1: "mlp_ee"}, num_outputs=3)
    model.compile()
    with pytest.raises(mexit_tf.MexitError, match="empty"):
        model.fit(tiny_images(0), tiny_labels(0), verbose=0)
