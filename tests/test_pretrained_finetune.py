"""The finetune recipe: frozen backbone first, then layer-wise decayed rates; photo crops."""

import keras
import numpy as np
from conftest import tiny_backbone, tiny_images, tiny_labels

import mexit_tf
from mexit_tf.data.array_batches import ArrayBatches
from mexit_tf.training.finetune import fit_finetune
from mexit_tf.training.layer_decay_adamw import LayerDecayAdamW, layer_decay_rates
from mexit_tf.training.photo_augmentation import build_photo_augmentation


def _model():
    keras.utils.set_random_seed(0)
    return mexit_tf.MultiExitModel(tiny_backbone(), exits={1: "mlp_ee"}, num_outputs=3)


def test_layer_decay_rates_fall_from_the_top():
    model = _model()
    rates = layer_decay_rates(model, decay=0.5)
    backbone = model.backbone
    assert rates[backbone.patch_embedding.position_embedding.path] == 0.5 ** 4
    assert rates[backbone.encoder_blocks[0].norm_1.gamma.path] == 0.5 ** 3
    assert rates[backbone.encoder_blocks[2].mlp_dense_2.kernel.path] == 0.5
    assert model.exit_heads[0].weights[0].path not in rates  # new heads: full rate


def test_layer_decay_adamw_scales_each_variables_step():
    slow, fast = keras.Variable(np.ones(3, "float32"), name="slow"), keras.Variable(
        np.ones(3, "float32"), name="fast")
    optimizer = LayerDecayAdamW(layer_rates={slow.path: 0.1}, learning_rate=0.01,
                                weight_decay=0.0)
    optimizer.apply_gradients([(np.ones(3, "float32"), slow), (np.ones(3, "float32"), fast)])
    np.testing.assert_allclose(1 - slow.numpy(), 0.1 * (1 - fast.numpy()), rtol=1e-4)
    assert LayerDecayAdamW.from_config(optimizer.get_config()).layer_rates == {slow.path: 0.1}


def test_finetune_trains_heads_on_a_frozen_backbone_first(tmp_path):
    model = _model()
    stem = model.backbone.patch_embedding.position_embedding
    before = stem.numpy().copy()
    seen = []

    class AfterEachPhase(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            seen.append(stem.numpy().copy())

    batches = ArrayBatches(tiny_images(16), tiny_labels(16), batch_size=8)
    config = dict(head_epochs=1, head_learning_rate=1e-2, epochs=1, learning_rate=1e-2,
                  layer_decay=0.5, jit_compile=False)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fit_finetune(model, batches, config, loss, str(tmp_path), [AfterEachPhase()], verbose=0)
    np.testing.assert_array_equal(seen[0], before)  # phase 1: the backbone did not move
    assert not np.array_equal(seen[1], before)  # phase 2: everything trains
    assert isinstance(model.optimizer, LayerDecayAdamW)


def test_photo_augmentation_crops_and_keeps_the_size():
    augment = build_photo_augmentation(crop=0.3, flip=True)
    images = np.arange(2 * 16 * 16 * 3, dtype="float32").reshape(2, 16, 16, 3)
    out = keras.ops.convert_to_numpy(augment(images, training=True))
    assert out.shape == images.shape and not np.allclose(out, images)
    assert build_photo_augmentation(crop=0.0, flip=False) is None
