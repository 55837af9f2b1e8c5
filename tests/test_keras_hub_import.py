import keras
import keras_hub
import numpy as np
from conftest import tiny_images

import mexit_tf


def _hub_classifier(**backbone_overrides):
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(8, 8, 3), patch_size=2, num_layers=3, num_heads=2, hidden_dim=16,
        mlp_dim=32, **backbone_overrides)
    classifier = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=4,
                                                     intermediate_dim=8)
    # Random, non-trivial weights everywhere (keras-hub initialises some biases to ~0).
    rng = np.random.default_rng(0)
    classifier.set_weights([rng.normal(0, 0.2, w.shape).astype("float32")
                            for w in classifier.get_weights()])
    return classifier


def test_final_exit_equals_keras_hub_classifier():
    hub = _hub_classifier()
    model = mexit_tf.from_keras_hub(hub, exits={1: "mlp_ee", 2: "sl_vit"})
    x = tiny_images(4, shape=(8, 8, 3)).astype("float32") / 255.0
    np.testing.assert_allclose(model(x)["final"], hub(x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.backbone(x), hub.backbone(x), rtol=1e-4, atol=1e-5)


def test_import_without_biases_and_from_bare_backbone():
    hub = _hub_classifier(use_mha_bias=False, use_mlp_bias=False)
    model = mexit_tf.from_keras_hub(hub.backbone, exits={2: "cnn_ignore"}, num_outputs=7)
    x = tiny_images(2, shape=(8, 8, 3)).astype("float32")
    np.testing.assert_allclose(model.backbone(x), hub.backbone(x), rtol=1e-4, atol=1e-5)
    assert model(x)["final"].shape == (2, 7)


def test_import_rejects_other_models():
    import pytest

    with pytest.raises(mexit_tf.MexitError, match="received Sequential"):
        mexit_tf.from_keras_hub(keras.Sequential(), exits={})
