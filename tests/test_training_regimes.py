import keras
import numpy as np
from conftest import tiny_backbone, tiny_images, tiny_labels

import mexit_tf
from mexit_tf.training import (
    apply_regime,
    copycat_targets,
    fit_copycat,
    fit_layer_wise,
    layer_wise_phases,
    predict_exits,
)


def _model(exits=None, layers=3):
    keras.utils.set_random_seed(0)
    return mexit_tf.MultiExitModel(tiny_backbone(num_layers=layers),
                                   exits=exits or {1: "mlp_ee", 2: "sl_vit"}, num_outputs=3)


def _weights(layers):
    return [w.copy() for layer in layers for w in layer.get_weights()]


def test_classifier_wise_leaves_backbone_untouched():
    model = _model()
    apply_regime(model, "classifier_wise")
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    backbone_before = _weights([model.backbone])
    heads_before = _weights(model.exit_heads)
    model.fit(tiny_images(), tiny_labels(), epochs=2, verbose=0)
    for a, b in zip(backbone_before, _weights([model.backbone]), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, b) for a, b in zip(heads_before, _weights(model.exit_heads),
                                                     strict=True))


def test_a_second_regime_on_a_shared_backbone_still_freezes_it():
    first = _model()
    apply_regime(first, "classifier_wise")
    second = mexit_tf.MultiExitModel(first.backbone, exits={1: "cnn_add"}, num_outputs=3,
                                     final_head=first.final_head)
    apply_regime(second, "copycat")
    frozen = {id(w) for w in first.backbone.weights}
    assert not frozen & {id(w) for w in second.trainable_weights}
    assert second.trainable_weights  # the new exit head trains


def test_layer_wise_phases_train_only_their_segment():
    model = _model()
    phases = layer_wise_phases(model)
    assert [p["exit"] for p in phases] == ["exit_1", "exit_2", "final"]
    assert model.backbone.encoder_blocks[0] in phases[0]["layers"]
    assert model.backbone.encoder_blocks[1] in phases[1]["layers"]
    block_1 = _weights([model.backbone.encoder_blocks[0]])
    fit_layer_wise(model, tiny_images(), tiny_labels(), epochs_per_exit=1,
                   compile_kwargs={"optimizer": "sgd"}, verbose=0)
    # Block 1 trained in phase 1 only; then it must stay fixed. Check it moved at all:
    assert any(not np.allclose(a, b) for a, b in zip(
        block_1, _weights([model.backbone.encoder_blocks[0]]), strict=True))
    assert all(layer.trainable for layer in model.layers)


def test_layer_wise_later_phase_freezes_earlier_blocks():
    model = _model()
    phase = layer_wise_phases(model)[1]
    for layer in model.layers:
        layer.trainable = any(layer is t for t in phase["layers"])
    model.compile(optimizer=keras.optimizers.SGD(0.5),
                  loss_weights={"exit_1": 0.0, "exit_2": 1.0, "final": 0.0})
    block_1 = _weights([model.backbone.encoder_blocks[0]])
    model.fit(tiny_images(), tiny_labels(), epochs=1, verbose=0)
    for a, b in zip(block_1, _weights([model.backbone.encoder_blocks[0]]), strict=True):
        np.testing.assert_array_equal(a, b)


def _agreement(model, x):
    outputs = predict_exits(model, x)
    final = outputs["final"].argmax(-1)
    return [float(np.mean(outputs[name].argmax(-1) == final)) for name in model.exit_names[:-1]]


def test_copycat_moves_early_exits_toward_the_final_exit():
    model = _model({1: "mlp_ee", 2: "cnn_ignore"})
    # A teacher whose answers vary with the input (fresh heads all answer alike).
    rng = np.random.default_rng(0)
    model.final_head.set_weights([rng.normal(0, 3, w.shape) for w in
                                  model.final_head.get_weights()])
    x = tiny_images(64, seed=3)  # unlabelled inputs
    final_before = predict_exits(model, x)["final"]
    before = _agreement(model, x)
    fit_copycat(model, x, epochs=15, optimizer=keras.optimizers.Adam(1e-2), batch_size=16,
                verbose=0)
    after = _agreement(model, x)
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    assert min(after) >= 0.9
    # The teacher (backbone + final head) is frozen.
    np.testing.assert_allclose(predict_exits(model, x)["final"], final_before, rtol=1e-5)


def test_soft_copycat_targets_are_tempered_probabilities():
    model = _model()
    rng = np.random.default_rng(1)  # a teacher with clear, input-dependent answers
    model.final_head.set_weights([rng.normal(0, 3, w.shape) for w in
                                  model.final_head.get_weights()])
    x = tiny_images(8)
    final = predict_exits(model, x)["final"].astype("float64")

    def tempered(temperature):  # softmax(logits / T), by hand
        scaled = np.exp((final - final.max(-1, keepdims=True)) / temperature)
        return scaled / scaled.sum(-1, keepdims=True)

    hot = copycat_targets(model, x, soft=True, temperature=1.0)
    warm = copycat_targets(model, x, soft=True, temperature=4.0)
    np.testing.assert_allclose(hot, tempered(1.0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(warm, tempered(4.0), rtol=1e-4, atol=1e-6)
    assert warm.max(-1).mean() < hot.max(-1).mean()
    np.testing.assert_array_equal(copycat_targets(model, x), final.argmax(-1))
    history = fit_copycat(model, x, epochs=1, soft=True, temperature=4.0, verbose=0)
    assert "exit_1_loss" in history.history


def test_smoothed_sparse_crossentropy_matches_one_hot_smoothing():
    from mexit_tf.training import SmoothedSparseCrossentropy

    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], "float32")
    labels = np.array([0, 2])
    expected = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)(
        keras.ops.one_hot(labels, 3), logits)
    np.testing.assert_allclose(SmoothedSparseCrossentropy(0.1)(labels, logits), expected,
                               rtol=1e-5)
