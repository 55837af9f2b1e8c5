import keras
import numpy as np
import pytest
from conftest import ALL_HEADS, tiny_backbone, tiny_images, tiny_labels

import mexit_tf
from mexit_tf.layers.exits import EXIT_HEADS


def test_every_registered_head_is_covered():
    assert sorted(EXIT_HEADS) == sorted(ALL_HEADS)


@pytest.mark.parametrize("head", ALL_HEADS)
def test_head_outputs_and_config_round_trip(head):
    layer = mexit_tf.get_exit_head(head, 5, grid_shape=(4, 4), name="h")
    tokens = keras.random.normal((2, 17, 16), seed=1)
    out = layer(tokens)
    assert tuple(out.shape) == (2, 5)
    clone = layer.__class__.from_config(layer.get_config())
    clone(tokens)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(tokens), out, rtol=1e-5, atol=1e-6)


def test_every_head_trains_in_one_step(all_heads_model):
    model = mexit_tf.MultiExitModel.from_config(all_heads_model.get_config())
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    before = {h.name: [w.copy() for w in h.get_weights()] for h in model.exit_heads}
    model.fit(tiny_images(), tiny_labels(), batch_size=16, epochs=1, verbose=0)
    for head in model.exit_heads:
        changed = [not np.allclose(a, b) for a, b in zip(before[head.name], head.get_weights(),
                                                          strict=True)]
        assert any(changed), f"{head.name} ({head.head_type}) did not train"


def test_regression_exits_train_with_mae(all_heads_model):
    backbone = tiny_backbone(num_layers=2)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "sl_vit"}, num_outputs=1)
    model.compile()
    x, y = tiny_images(), np.arange(16, dtype="float32")
    history = model.fit(x, y, epochs=1, verbose=0)
    assert {"exit_1_mae", "final_mae"} <= set(history.history)
    # The metric is the mean absolute error of each exit's single output.
    scores = model.evaluate(x, y, return_dict=True, verbose=0)
    predicted = model.predict(x, verbose=0)
    for name in ("exit_1", "final"):
        assert predicted[name].shape == (16, 1)
        assert scores[f"{name}_mae"] == pytest.approx(
            np.mean(np.abs(predicted[name][:, 0] - y)), rel=1e-4), name


def test_heads_needing_a_class_token_refuse_a_backbone_without_one():
    backbone = tiny_backbone(num_layers=2, use_class_token=False)
    with pytest.raises(mexit_tf.MexitError, match="reads the class token"):
        mexit_tf.MultiExitModel(backbone, exits={1: "mlp_ee"}, num_outputs=3)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "sl_vit"}, num_outputs=3)
    assert model.final_head.pooling == "gap"


def test_unknown_head_name_is_named_in_the_error():
    with pytest.raises(mexit_tf.MexitError, match="'mlp_eee'.*known heads"):
        mexit_tf.MultiExitModel(tiny_backbone(), exits={1: "mlp_eee"}, num_outputs=3)


def test_non_square_grid_needs_grid_shape():
    layer = mexit_tf.get_exit_head("cnn_ignore", 2)
    with pytest.raises(mexit_tf.MexitError, match="grid_shape"):
        layer(keras.ops.zeros((1, 7, 8)))
