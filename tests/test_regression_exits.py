"""Regression exits: Gaussian NLL heads, agreement / std gating, calibration to an MAE
target, and regression bundles through the Python cascade."""

import json

import keras
import numpy as np
import pytest
from conftest import tiny_backbone, tiny_images
from mexit_tf.converters import export_bundle

import mexit_tf
from mexit_tf.gating import AgreementPolicy, ExitPolicy, VariancePolicy, calibrate_policy
from mexit_tf.runtime import Cascade


def _column(*values):
    return np.array(values, np.float64)[:, None]


def test_agreement_policy_stops_once_consecutive_exits_agree():
    outputs = [_column(1.0, 5.0, 2.0), _column(1.2, 3.0, 2.0), _column(9.0, 9.0, 9.0),
               _column(0.0, 0.0, 0.0)]
    policy = AgreementPolicy([0.5, 0.5])
    # Input 0: exits 0 and 1 agree (|1.2-1.0| <= 0.5): stop at 1. Input 1: 5 -> 3 -> 9, no
    # agreement until the final exit. Input 2: exits 0 and 1 agree exactly.
    assert policy.select_exits(outputs).tolist() == [1, 3, 1]
    assert policy.num_exits == 4
    assert ExitPolicy.from_dict(policy.to_dict()).thresholds == [0.5, 0.5]


def test_std_policy_reads_the_predicted_log_variance():
    mean_and_log_variance = [np.array([[1.0, np.log(0.25)], [1.0, np.log(4.0)]]),
                             np.array([[2.0, 0.0], [2.0, np.log(0.5 ** 2)]]),
                             np.array([[3.0, 0.0], [3.0, 0.0]])]
    policy = VariancePolicy([0.6, 0.6])  # std 0.5 passes, 2 does not; then 0.5 passes
    assert policy.select_exits(mean_and_log_variance).tolist() == [0, 1]


@pytest.mark.parametrize("data, message", [
    ({"type": "std", "thresholds": [float("nan")]}, "received nan"),
    ({"type": "std", "thresholds": [-1.0]}, "received -1.0"),
    ({"type": "agreement", "thresholds": "0.5"}, "must be a list"),
])
def test_bad_regression_policies_are_refused(data, message):
    with pytest.raises(mexit_tf.MexitError, match=message):
        ExitPolicy.from_dict(data)


def _noisy_regression_exits(count=3000, seed=0):
    """Four exits whose errors shrink with depth; each reports its own noise level."""
    rng = np.random.default_rng(seed)
    targets = rng.uniform(0, 10, count)
    outputs = []
    for noise in (1.5, 0.8, 0.4, 0.2):
        # Some inputs are hard for every exit: the noise varies per input, and the
        # predicted log-variance knows it.
        scale = noise * rng.choice([0.3, 3.0], count, p=[0.7, 0.3])
        mean = targets + rng.normal(0, 1, count) * scale
        outputs.append(np.stack([mean, np.log(scale ** 2)], axis=1))
    return outputs, targets


@pytest.mark.parametrize("kind", ["agreement", "std"])
def test_regression_calibration_meets_an_mae_target_and_saves_cost(kind):
    outputs, targets = _noisy_regression_exits()
    policy, report = calibrate_policy(kind, outputs, targets, [1.0] * 4, target_loss=0.1,
                                      task="regression")
    assert report["task"] == "regression" and report["expected_loss_upper_bound"] <= 0.1 + 1e-9
    assert report["expected_mae"] <= report["final_exit_mae"] + 0.1
    assert report["expected_speedup"] > 1.1, report
    assert policy.policy_type == kind


def test_policies_are_refused_for_the_wrong_kind_of_model():
    outputs, targets = _noisy_regression_exits(count=50)
    with pytest.raises(mexit_tf.MexitError, match="does not fit a regression model"):
        calibrate_policy("confidence", outputs, targets, [1.0] * 4, task="regression")
    logits = [np.random.default_rng(0).normal(size=(50, 3))] * 3
    with pytest.raises(mexit_tf.MexitError, match="does not fit a classification model"):
        calibrate_policy("agreement", logits, np.zeros(50, int), [1.0] * 3)


@pytest.fixture(scope="module")
def variance_model():
    keras.utils.set_random_seed(0)
    model = mexit_tf.MultiExitModel(tiny_backbone(3), exits={1: "mlp_ee", 2: "sl_vit"},
                                    num_outputs=1, predict_variance=True)
    model.compile()
    x = tiny_images(32)
    y = x.reshape(32, -1).mean(-1) / 64.0  # a learnable "count": mean brightness
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    return model, x, y


def test_variance_model_trains_with_gaussian_nll_and_round_trips(variance_model, tmp_path):
    model, x, y = variance_model
    assert isinstance(model.loss["final"], mexit_tf.training.GaussianNLL)
    outputs = model.predict(x, verbose=0)
    assert all(value.shape == (32, 2) for value in outputs.values())
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0).history
    assert np.isfinite(history["loss"][0]) and "final_mae" in history
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.predict_variance
    np.testing.assert_allclose(loaded.predict(x, verbose=0)["final"],
                               model.predict(x, verbose=0)["final"], atol=1e-6)
    assert isinstance(loaded.loss["final"], mexit_tf.training.GaussianNLL)


def test_gaussian_nll_matches_its_formula():
    y_true = np.array([1.0, 2.0], "float32")
    y_pred = np.array([[0.5, 0.0], [2.0, np.log(4.0)]], "float32")
    expected = np.mean([0.5 * (0.0 + 0.25), 0.5 * (np.log(4.0) + 0.0)])
    assert float(mexit_tf.training.GaussianNLL()(y_true, y_pred)) == pytest.approx(expected)


def test_predict_variance_is_for_regression_only():
    with pytest.raises(mexit_tf.MexitError, match="num_outputs=10"):
        mexit_tf.MultiExitModel(tiny_backbone(2), exits={1: "mlp_ee"}, num_outputs=10,
                                predict_variance=True)


@pytest.mark.parametrize("predict_variance, policy", [(True, "std"), (False, "agreement")])
def test_regression_bundle_exports_calibrates_and_runs(variance_model, tmp_path, capsys,
                                                        predict_variance, policy):
    if predict_variance:
        model, x, y = variance_model
    else:
        keras.utils.set_random_seed(0)
        model = mexit_tf.MultiExitModel(tiny_backbone(3), exits={1: "mlp_ee", 2: "cnn_add"},
                                        num_outputs=1)
        x = tiny_images(32)
        y = x.reshape(32, -1).mean(-1) / 64.0
    manifest = export_bundle(model, tmp_path / "b", (x, y), target_loss=0.5, progress=False,
                             latency_runs=3)
    assert manifest["task"] == "regression"
    assert manifest["output"] == ("mean_log_variance" if predict_variance else "value")
    assert manifest["policy"]["type"] == policy
    assert all(row["max_relative_error"] <= 1e-4 and row["top1_agreement"] is None
               for row in manifest["parity"].values()), manifest["parity"]
    cascade = Cascade(tmp_path / "b")
    report = cascade.evaluate(x, y, progress=False)
    assert report["metric"] == "mae" and set(report["exit_mae"]) == set(cascade.exit_names)
    assert report["policy_mae"] >= 0
    result = cascade.predict(x[0])
    assert result.label is None and result.output.shape == ((2,) if predict_variance else (1,))
    from PIL import Image

    from mexit_tf.cli.main import main

    Image.fromarray(x[0, :, :, 0].astype("uint8")).save(tmp_path / "x0.png")
    assert main(["predict", str(tmp_path / "b"), str(tmp_path / "x0.png"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)[0]
    assert answer["label"] is None and answer["value"] == pytest.approx(
        float(result.output[0]), rel=1e-5)


def test_copycat_teaches_regression_exits_the_final_exits_values(variance_model):
    from mexit_tf.training import copycat_targets, fit_copycat

    model, x, _ = variance_model
    targets = copycat_targets(model, x)
    np.testing.assert_allclose(targets, model.predict(x, verbose=0)["final"][:, 0], atol=1e-6)
    clone = mexit_tf.MultiExitModel.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    history = fit_copycat(clone, x, epochs=1, batch_size=16, verbose=0).history
    assert np.isfinite(history["loss"][0]) and "exit_1_mae" in history
