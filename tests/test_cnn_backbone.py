"""Early exits on Keras functional CNNs: cuts at named layers, training, stages, bundles."""

import keras
import numpy as np
import pytest
from conftest import assert_round_trips, tiny_images, tiny_labels
from mexit_tf.converters.bundle_export import export_bundle
from mexit_tf.converters.stage_builder import build_stage_models

import mexit_tf
from mexit_tf.errors import MexitError
from mexit_tf.runtime.cascade import Cascade


def tiny_cnn():
    """16x16 RGB -> conv -> residual block (joined by `join`) -> strided conv."""
    keras.utils.set_random_seed(0)
    images = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(images)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="stem")(x)
    branch = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="inner")(x)
    x = keras.layers.Add(name="join")([x, branch])
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="down")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="top")(x)
    return keras.Model(images, x, name="tiny_cnn")


@pytest.fixture(scope="module")
def cnn_model():
    backbone = mexit_tf.CNNBackbone(tiny_cnn(), cuts=["stem", "join", "down"])
    return mexit_tf.MultiExitModel(
        backbone, exits={"stem": "sl_vit", "join": "cnn_ignore", "down": "resmlp_ee"},
        num_outputs=3)


def test_exits_attach_at_named_layers_and_train(cnn_model, tmp_path):
    assert cnn_model.exit_names == ["exit_1", "exit_2", "exit_3", "final"]
    assert [head.grid_shape for head in cnn_model.exit_heads] == [(8, 8), (8, 8), (4, 4)]
    x, y = tiny_images(16, shape=(16, 16, 3)), tiny_labels(16)
    cnn_model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = cnn_model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert_round_trips(cnn_model, x, tmp_path / "cnn.keras", atol=1e-5)


def test_cut_points_are_where_one_tensor_crosses():
    # "stem" feeds both the branch and the skip, but that is one tensor: a valid cut.
    # Inside the residual block ("inner") the skip crosses too: not a cut.
    assert mexit_tf.CNNBackbone.cut_points(tiny_cnn()) == ["scale", "stem", "join", "down"]


@pytest.mark.parametrize("cuts, message", [
    (["inner"], r"Cannot cut after layer 'inner': more than one tensor crosses there "
                r"\(inner, stem"),
    (["jion"], r"The CNN has no layer 'jion'. Did you mean 'join'"),
    (["down", "join"], r"network's order: 'join' does not come after 'down'"),
    ([], "at least one cut"),
])
def test_bad_cuts_are_refused_by_name(cuts, message):
    with pytest.raises(MexitError, match=message):
        mexit_tf.CNNBackbone(tiny_cnn(), cuts=cuts)


def test_heads_that_read_a_class_token_are_refused():
    backbone = mexit_tf.CNNBackbone(tiny_cnn(), cuts=["join"])
    with pytest.raises(MexitError, match="reads the class token"):
        mexit_tf.MultiExitModel(backbone, exits={"join": "cnn_add"}, num_outputs=3)
    with pytest.raises(MexitError, match="'stem': not one of this backbone's cuts"):
        mexit_tf.MultiExitModel(backbone, exits={"stem": "sl_vit"}, num_outputs=3)


def test_stages_hand_on_feature_maps_and_match_the_model(cnn_model):
    stages = build_stage_models(cnn_model)
    assert [tuple(s.inputs[0].shape) for s in stages] == [
        (1, 16, 16, 3), (1, 8, 8, 8), (1, 8, 8, 8), (1, 4, 4, 16)]
    x = tiny_images(2, seed=3, shape=(16, 16, 3)).astype("float32")
    expected = cnn_model.predict(x, verbose=0)
    for row in range(2):
        hidden = x[row:row + 1]
        for stage, name in zip(stages, cnn_model.exit_names, strict=True):
            outputs = stage(hidden)
            logits, hidden = (outputs if isinstance(outputs, (list, tuple))
                              else (outputs, None))
            np.testing.assert_allclose(np.asarray(logits)[0], expected[name][row],
                                       rtol=1e-4, atol=1e-5)


def test_cnn_bundle_exports_with_parity_and_runs(cnn_model, tmp_path):
    x, y = tiny_images(24, seed=1, shape=(16, 16, 3)), tiny_labels(24, seed=1)
    manifest = export_bundle(cnn_model, tmp_path / "cnn", (x, y), progress=False,
                             latency_runs=3)
    assert manifest["hidden"]["shapes"] == [[1, 8, 8, 8], [1, 8, 8, 8], [1, 4, 4, 16]]
    assert all(row["max_relative_error"] <= 1e-4 for row in manifest["parity"].values())
    report = Cascade(tmp_path / "cnn").evaluate(x, y, progress=False)
    # Each exit of the bundle is as accurate as the Keras model's (a near tie may flip one).
    want = cnn_model.predict(x, verbose=0)
    assert list(report["exit_accuracy"]) == cnn_model.exit_names
    for name, accuracy in report["exit_accuracy"].items():
        assert abs(accuracy - np.mean(want[name].argmax(-1) == y)) <= 1 / 24 + 1e-9, name


def test_mobilenet_v3_small_takes_exits_at_its_residual_adds(tmp_path):
    cnn = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), include_top=False,
                                              weights=None, minimalistic=True)
    adds = [name for name in mexit_tf.CNNBackbone.cut_points(cnn) if name.endswith("_add")]
    assert len(adds) >= 2, adds
    backbone = mexit_tf.CNNBackbone(cnn, cuts=adds[:2])
    model = mexit_tf.MultiExitModel(backbone, exits={adds[0]: "sl_vit", adds[1]: "cnn_ignore"},
                                    num_outputs=4)
    x, y = tiny_images(8, shape=(32, 32, 3)), tiny_labels(8, classes=4)
    manifest = export_bundle(model, tmp_path / "mnv3", (x, y), progress=False,
                             latency_runs=3, parity_examples=4)
    assert len(manifest["stages"]) == 3
    assert all(row["max_relative_error"] <= 1e-4 for row in manifest["parity"].values())


def test_cnn_models_train_classifier_wise_and_copycat_but_not_layer_wise(cnn_model):
    from mexit_tf.training import fit_copycat, layer_wise_phases

    x = tiny_images(8, seed=2, shape=(16, 16, 3))
    frozen = [w.numpy().copy() for w in cnn_model.backbone.cnn.weights]
    fit_copycat(cnn_model, x, epochs=1, batch_size=8, verbose=0)
    for before, after in zip(frozen, cnn_model.backbone.cnn.weights, strict=True):
        np.testing.assert_array_equal(before, after.numpy())
    with pytest.raises(MexitError, match="Layer-wise training splits a ViT.*CNNBackbone"):
        layer_wise_phases(cnn_model)
