"""keras-hub ViT, DeiT and DINOv2 imported with their weights (item 2 and 3 of issue 24)."""

import keras
import keras_hub
import numpy as np
import pytest
from conftest import tiny_images

import mexit_tf
from mexit_tf.models.position_embedding_resize import resize_position_embedding

SIZE = dict(num_layers=3, num_heads=2, hidden_dim=16)


def randomize(model, seed=0):
    """Non-trivial weights everywhere (keras-hub initialises tokens and biases to ~0)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.2, w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


def tiny_hub_model(family, image=16, classes=None, **overrides):
    """A small keras-hub backbone (or classifier with `classes`) at random init."""
    keras.utils.set_random_seed(0)
    if family == "vit":
        backbone = keras_hub.models.ViTBackbone(image_shape=(image, image, 3), patch_size=4,
                                                mlp_dim=32, **SIZE, **overrides)
        task = keras_hub.models.ViTImageClassifier
    elif family == "deit":
        backbone = keras_hub.models.DeiTBackbone(image_shape=(image, image, 3), patch_size=4,
                                                 intermediate_dim=32, **SIZE, **overrides)
        task = keras_hub.models.DeiTImageClassifier
    else:
        backbone = keras_hub.models.DINOV2Backbone(
            patch_size=4, intermediate_dim=32, image_shape=(image, image, 3),
            position_embedding_shape=(image, image, 3), **SIZE,
            **{"num_register_tokens": 2, "layer_scale_init_value": 0.5, **overrides})
        task = None
    if classes is None or task is None:
        return randomize(backbone)
    converter = keras_hub.layers.ImageConverter(
        image_size=(image, image), scale=[1 / 58.4, 1 / 57.1, 1 / 57.4],
        offset=[-2.1, -2.0, -1.8])
    preprocessor = keras_hub.models.ImageClassifierPreprocessor(image_converter=converter)
    return randomize(task(backbone=backbone, num_classes=classes, preprocessor=preprocessor))


def _images(count, size=16):
    return tiny_images(count, shape=(size, size, 3)).astype("float32")


@pytest.mark.parametrize("family", ["vit", "deit"])
def test_final_exit_equals_keras_hub_classifier(family):
    hub = tiny_hub_model(family, classes=5)
    model = mexit_tf.from_keras_hub(hub, exits={1: "mlp_ee", 2: "cnn_ignore"})
    x = _images(3)
    # keras-hub's preprocessor normalises; ours holds the same steps inside the model.
    expected = hub(hub.preprocessor.image_converter(x))
    np.testing.assert_allclose(model(x)["final"], expected, rtol=1e-4, atol=1e-4)
    assert model(x)["exit_2"].shape == (3, 5)


@pytest.mark.parametrize("overrides", [{}, {"use_swiglu_ffn": True, "num_register_tokens": 0}])
def test_dinov2_last_block_tokens_equal_keras_hub(overrides):
    hub = tiny_hub_model("dinov2", **overrides)
    model = mexit_tf.from_keras_hub(hub, exits={1: "sl_vit", 2: "resmlp_ee"}, num_outputs=3,
                                    pixel_scale=1.0)
    x = _images(2) / 255.0
    last = keras.Model(hub.inputs, hub.pyramid_outputs["stage3"])
    tokens = keras.Model(model.input, model.backbone.block_outputs[3])(x)
    np.testing.assert_allclose(tokens, last({"images": x}), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.backbone(x), hub({"images": x}), rtol=1e-4, atol=1e-4)
    assert {name: out.shape for name, out in model(x).items()} == {
        "exit_1": (2, 3), "exit_2": (2, 3), "final": (2, 3)}


def test_deit_model_saves_and_loads(tmp_path):
    model = mexit_tf.from_keras_hub(tiny_hub_model("deit"), exits={1: "sl_vit"}, num_outputs=2)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = _images(2)
    np.testing.assert_allclose(loaded(x)["exit_1"], model(x)["exit_1"], rtol=1e-5, atol=1e-6)


def test_other_image_size_resizes_positions_and_says_so(capsys):
    hub = tiny_hub_model("deit", classes=4)
    model = mexit_tf.from_keras_hub(hub, exits={2: "cnn_ignore"}, image_shape=(24, 24))
    assert "resized from a 4x4 to a 6x6 patch grid" in capsys.readouterr().err
    assert model(_images(2, size=24))["final"].shape == (2, 4)
    # The two special tokens' positions (class, distillation) are kept as they were.
    np.testing.assert_array_equal(model.backbone.patch_embedding.position_embedding[0, :2],
                                  hub.backbone.get_layer(
                                      "deit_patching_and_embedding").position_embedding[0, :2])


def test_resize_and_back_gives_the_original():
    # A smooth embedding over an 8x8 grid, as learned position embeddings are.
    rows, cols = np.meshgrid(np.linspace(0, 1, 8), np.linspace(0, 1, 8), indexing="ij")
    grid = np.stack([np.sin(np.pi * (rows * k + cols)) for k in range(4)], -1).reshape(1, 64, 4)
    original = np.concatenate([np.full((1, 1, 4), 7.0), grid], axis=1).astype("float32")
    there = resize_position_embedding(original, (8, 8), (16, 16))
    back = resize_position_embedding(there, (16, 16), (8, 8))
    assert there.shape == (1, 257, 4)
    np.testing.assert_array_equal(back[:, 0], original[:, 0])  # the class token's, untouched
    np.testing.assert_allclose(back, original, atol=0.05)


def test_patch_size_that_does_not_divide_is_refused():
    with pytest.raises(mexit_tf.MexitError, match="patch size 4x4 does not divide"):
        mexit_tf.from_keras_hub(tiny_hub_model("vit"), exits={1: "mlp_ee"}, num_outputs=2,
                                image_shape=(18, 18))


@pytest.mark.parametrize("family", ["vit", "dinov2"])
def test_preset_folder_loads_with_its_preprocessing_folded_in(tmp_path, family):
    from mexit_tf.models.keras_hub_source import load_keras_hub_backbone

    hub = tiny_hub_model(family, classes=3)
    hub.save_to_preset(str(tmp_path / "preset"))
    backbone, converter = load_keras_hub_backbone(str(tmp_path / "preset"))
    assert (converter is not None) == (family == "vit")  # DINOv2 here: a bare backbone
    model = mexit_tf.from_keras_hub(backbone, exits={1: "mlp_ee"}, num_outputs=2,
                                    image_converter=converter)
    x = _images(2)
    hub_backbone = hub.backbone if family == "vit" else hub
    expected = hub_backbone(converter(x) if converter is not None else {"images": x})
    # Raw pixels in: the converter's per-channel scale and offset live in the model.
    np.testing.assert_allclose(model.backbone(x), expected, rtol=1e-4, atol=1e-4)


def test_hugging_face_pixel_normalisation_is_read(tmp_path):
    import json

    from mexit_tf.models.keras_hub_import import from_keras_hub
    from mexit_tf.models.keras_hub_source import hf_image_converter

    (tmp_path / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_rescale": True, "rescale_factor": 1 / 255,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}))
    converter = hf_image_converter(str(tmp_path))
    model = from_keras_hub(tiny_hub_model("dinov2"), exits={1: "mlp_ee"}, num_outputs=2,
                           image_converter=converter)
    assert model.backbone.pixel_mean == pytest.approx([0.485, 0.456, 0.406])
    assert model.backbone.pixel_std == pytest.approx([0.229, 0.224, 0.225])
    assert hf_image_converter(str(tmp_path / "missing")) is None
