"""Batched early exit (mexit_tf.runtime.batched_cascade) against `Cascade.predict` one by one,
on 1,000 real Fashion-MNIST test images and a small ViT trained briefly on real
Fashion-MNIST (exits after blocks 1, 2 and 3, and the final one)."""

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import tiny_images
from mexit_tf.converters import export_bundle

import mexit_tf
from mexit_tf.data import load_fashion_mnist
from mexit_tf.errors import MexitError
from mexit_tf.gating import (
    BudgetPolicy,
    ConfidencePolicy,
    EntropyPolicy,
    MarginPolicy,
    PatiencePolicy,
    softmax,
)
from mexit_tf.gating.exit_policy import ExitPolicy
from mexit_tf.runtime import Cascade
from mexit_tf.runtime import batched_cascade as batched_module
from mexit_tf.runtime.batched_cascade import (
    BatchedCascade,
    BatchingWarning,
    bucket_sizes,
    predict_batch,
)
from mexit_tf.runtime.latency_model import LatencyModel

IMAGES = 1000
ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZES = [1, 7, 64]


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """(bundle, the first 1,000 test images, their labels)."""
    data = load_fashion_mnist()
    keras.utils.set_random_seed(0)
    backbone = mexit_tf.ViTBackbone(image_shape=(28, 28, 1), patch_size=7, hidden_dim=32,
                                    num_heads=2, mlp_dim=64, num_layers=4)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "mlp_ee", 2: "vit_ee", 3: "mlp_ee"},
                                    num_outputs=10)
    model.compile()
    model.fit(data.x_train[:3000], data.y_train[:3000], epochs=1, batch_size=64, verbose=0)
    bundle = tmp_path_factory.mktemp("batched") / "bundle"
    export_bundle(model, bundle, (data.x_val[:500], data.y_val[:500]), data.class_names,
                  progress=False, latency_runs=5)
    return bundle, data.x_test[:IMAGES], data.y_test[:IMAGES]


@pytest.fixture(scope="module")
def cascade(fashion):
    with Cascade(fashion[0]) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def batched(cascade):
    with warnings.catch_warnings():
        warnings.simplefilter("error", BatchingWarning)  # every stage must batch
        with BatchedCascade(cascade) as runner:
            runner.prepare(64)
            yield runner


def _median_thresholds(outputs, score):
    """Per early exit, the median of its score over the images: about half the rows that
    reach an exit leave there (and ties at the threshold are met)."""
    return [float(np.quantile(score(softmax(logits.astype(np.float64))), 0.5))
            for logits in outputs[:-1]]


class _ConfidentAndAgreeing(ExitPolicy):
    """A test policy that reads earlier exits too: exit k answers when it is confident and
    agrees with every exit before it, so rows compacted between stages (twice, before
    exit 2 decides) must keep their own history."""

    def __init__(self, thresholds):
        self.thresholds, self.num_exits = thresholds, len(thresholds) + 1

    def accepts(self, outputs, index):
        confident = ConfidencePolicy.score(softmax(outputs[index].astype(np.float64))) >= \
            self.thresholds[index]
        answer = outputs[index].argmax(-1)
        for earlier in outputs[:index]:
            confident = confident & (earlier.argmax(-1) == answer)
        return confident


@pytest.fixture(scope="module")
def policies(cascade, fashion):
    """Every classification policy type, thresholds set so that several exits are used."""
    outputs, _ = cascade.run_all(fashion[1], progress=False)
    costs = [stage["cost"]["latency_ms"] for stage in cascade.manifest["stages"]]
    return {
        "confidence": ConfidencePolicy(_median_thresholds(outputs, ConfidencePolicy.score)),
        "entropy": EntropyPolicy(_median_thresholds(outputs, EntropyPolicy.score)),
        "margin": MarginPolicy(_median_thresholds(outputs, MarginPolicy.score)),
        "patience": PatiencePolicy(2, len(outputs)),
        "budget": BudgetPolicy(costs[0] + costs[1] + 1e-6, costs),
        "bundle": cascade.policy,  # as calibrated at export
        "history": _ConfidentAndAgreeing(_median_thresholds(outputs, ConfidencePolicy.score)),
    }


@pytest.fixture(scope="module")
def one_by_one(cascade, fashion, policies):
    """`predict` on each image alone, per policy (and running to the end)."""
    images = fashion[1]
    alone = {kind: [cascade.predict(image, policy=policy) for image in images]
             for kind, policy in policies.items()}
    alone["run_to_end"] = [cascade.predict(image, run_to_end=True) for image in images]
    return alone


def _assert_same(got, want, what):
    assert len(got) == len(want) == IMAGES, what
    assert [r.exit_index for r in got] == [r.exit_index for r in want], what
    assert [r.label for r in got] == [r.label for r in want], what
    assert [r.exit_name for r in got] == [r.exit_name for r in want], what
    assert [r.stopped_by for r in got] == [r.stopped_by for r in want], what
    worst = max(float(np.abs(g.output - w.output).max()) for g, w in zip(got, want, strict=True))
    assert worst <= 1e-5, f"{what}: logits differ by {worst}"
    np.testing.assert_allclose([g.confidence for g in got], [w.confidence for w in want],
                               atol=1e-6, err_msg=what)


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("kind", ["confidence", "entropy", "margin", "patience", "budget",
                                  "bundle", "history"])
def test_decisions_equal_predict_one_by_one(batched, fashion, policies, one_by_one, kind,
                                            batch_size):
    got = batched.predict_batch(fashion[1], batch_size=batch_size, policy=policies[kind])
    _assert_same(got, one_by_one[kind], f"{kind} at batch {batch_size}")


def test_the_policies_send_rows_to_several_exits(policies, one_by_one):
    for kind in ("confidence", "entropy", "margin", "patience", "history"):
        used = np.bincount([r.exit_index for r in one_by_one[kind]], minlength=4)
        assert (used >= 20).sum() >= 2, f"{kind} uses exits {used.tolist()}"
    # The budget policy answers every row at the deepest exit that fits: here an early one.
    assert {r.exit_index for r in one_by_one["budget"]} == {1}
    assert {r.exit_index for kind in policies for r in one_by_one[kind]} == {0, 1, 2, 3}
    # Rows reach exit 2 of the history policy after two compactions, and some leave there.
    assert sum(r.exit_index == 2 for r in one_by_one["history"]) >= 20


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_run_to_end_equals_predict_and_run_all(batched, cascade, fashion, one_by_one,
                                               batch_size):
    got = batched.predict_batch(fashion[1], batch_size=batch_size, run_to_end=True)
    _assert_same(got, one_by_one["run_to_end"], f"run_to_end at batch {batch_size}")
    assert {r.stopped_by for r in got} == {"last_stage"}
    assert all(len(r.stage_latencies_ms) == 4 and r.latency_ms > 0 for r in got)


@pytest.mark.parametrize("batch_size", [7, 64])
def test_run_all_in_batches_equals_run_all_one_by_one(batched, cascade, fashion, batch_size):
    want, _ = cascade.run_all(fashion[1], progress=False)
    got = batched.run_all(fashion[1], batch_size, progress=False)
    assert [g.shape for g in got] == [w.shape for w in want] == [(IMAGES, 10)] * 4
    assert max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True)) <= 1e-5


def test_evaluate_in_batches_reports_what_evaluate_does(cascade, fashion):
    from mexit_tf.runtime.cascade_report import evaluate_in_batches

    _, images, labels = fashion
    want = cascade.evaluate(images[:300], labels[:300], progress=False)
    got = evaluate_in_batches(cascade, images[:300], labels[:300], batch_size=32,
                              num_threads=1, latency_sample=40, throughput_sample=100,
                              progress=False)
    for key in ("examples", "exit_accuracy", "policy_accuracy", "exit_histogram", "policy"):
        assert got[key] == want[key], key
    assert got["latency_sample"] == {"examples": 40, "threads": 1}
    assert got["throughput"]["examples"] == 100 and got["throughput"]["threads"] == 1
    assert got["throughput"]["images_per_s"] > 0
    assert got["throughput"]["all_stages_images_per_s"] > 0
    # Stage time per image: every example charged the batch-1 medians of the stages it needed.
    stage_ms = np.array(list(got["stage_latency_ms"].values()))
    shares = np.array(list(got["exit_histogram"].values()))
    assert got["mean_latency_ms"] == pytest.approx(float(shares @ np.cumsum(stage_ms)), abs=2e-3)
    assert got["wall_ms"]["all_stages_mean"] > 0 and got["wall_clock_speedup"] > 0


def test_a_list_of_examples_and_an_array_give_the_same_answers(batched, fashion, policies):
    images = fashion[1][:40]
    as_list = [image[:, :, 0] for image in images]  # (28, 28): one channel, implied
    got = batched.predict_batch(as_list, batch_size=16, policy=policies["confidence"])
    want = batched.predict_batch(images, batch_size=16, policy=policies["confidence"])
    assert [(r.exit_index, r.label) for r in got] == [(r.exit_index, r.label) for r in want]


def test_every_stage_runs_batched_inside_xnnpack(batched, fashion):
    for stage in range(batched.num_stages):
        single, many = batched.delegation(stage, 1), batched.delegation(stage, 64)
        assert single["fully_delegated"] and many["fully_delegated"], (stage, many)
        assert many["partitions"] == single["partitions"] == 1
    assert not batched._unbatchable
    assert all(isinstance(r, batched_module._Runner) for r in batched._runners.values())
    # One prepared runner per (stage, batch size met): powers of two and the batch sizes.
    prepared = {(s, b) for s in range(4) for b in bucket_sizes(64)}
    assert prepared <= set(batched._runners)
    assert {size for _, size in batched._runners} <= {*bucket_sizes(64), 7, 5, 16, 32}


def test_a_stage_that_cannot_be_batched_runs_row_by_row(cascade, fashion, policies,
                                                        one_by_one, monkeypatch):
    # The unchanged batch-1 file cannot run 8 rows: the check finds it, warns, and the
    # stage runs row by row, still with the same answers.
    monkeypatch.setattr(batched_module, "batched_stage_bytes", lambda data, batch: data)
    with BatchedCascade(cascade) as fallback:
        with pytest.warns(BatchingWarning, match="row by row"):
            got = fallback.predict_batch(fashion[1], batch_size=8, policy=policies["margin"])
        assert fallback._unbatchable == {0, 1, 2, 3}
    _assert_same(got, one_by_one["margin"], "row by row")


def test_a_generous_deadline_changes_nothing(batched, fashion, policies, one_by_one):
    got = batched.predict_batch(fashion[1], batch_size=64, policy=policies["entropy"],
                                deadline_ms=60_000)
    _assert_same(got, one_by_one["entropy"], "deadline 60 s")
    assert all(r.deadline_met is True and r.elapsed_ms > 0 for r in got)


def test_a_deadline_too_short_for_a_second_stage_answers_from_the_first(batched, fashion):
    got = batched.predict_batch(fashion[1][:100], batch_size=32, deadline_ms=1e-3,
                                run_to_end=True)
    assert {r.exit_index for r in got} == {0}
    assert {r.stopped_by for r in got} == {"deadline"}
    assert not any(r.deadline_met for r in got)
    free = batched.predict_batch(fashion[1][:10], batch_size=32)
    assert all(r.deadline_met is None for r in free)


def test_batch_time_predictions_scale_from_what_was_measured():
    model = LatencyModel([0.2, 0.3])  # ms per image, per stage
    times = batched_module._BatchTimes(model)
    assert times.predict_ns(1, 8) == model.predict_ns(1) * 8  # nothing measured: linear
    times.observe(1, 8, 1_000_000)
    assert times.predict_ns(1, 8) == 1_000_000
    assert times.predict_ns(1, 16) == 2_000_000  # from the nearest smaller size, per row
    assert times.predict_ns(1, 4) == 1_000_000  # fewer rows take no longer
    assert times.predict_ns(0, 8) == model.predict_ns(0) * 8  # another stage: unmeasured
    times.observe_finish(10, 50_000)
    assert times.predict_finish_ns(20) == 100_000


def test_the_module_function_keeps_its_runners(cascade, fashion, one_by_one):
    first = predict_batch(cascade, fashion[1][:50], batch_size=8, run_to_end=True)
    runners = cascade._batched
    predict_batch(cascade, fashion[1][:5], batch_size=8)
    assert cascade._batched is runners
    assert [r.exit_index for r in first] == [3] * 50
    runners.close()


@pytest.mark.parametrize("examples, options, message", [
    (np.zeros((4, 28, 27, 1)), {}, "examples of shape (4, 28, 27, 1) do not match the "
                                   "bundle's input: (N, 28, 28, 1)"),
    (np.zeros((0, 28, 28, 1)), {}, "No examples to run: received 0."),
    ([np.zeros((28, 28)), np.zeros((3, 3))], {}, "Example 1: Image shape (3, 3, 1) does not match"),
    ([], {}, "No examples to run: received 0."),
    ("image.png", {}, "received str"),
    (None, {}, "received NoneType"),
    (np.array([["a"] * 28] * 28)[None], {}, "must be numbers"),
    (np.zeros((2, 28, 28)), {"batch_size": 0}, "batch_size must be an integer from 1 to "
                                               "4096; received 0"),
    (np.zeros((2, 28, 28)), {"batch_size": 2.5}, "received 2.5"),
    (np.zeros((2, 28, 28)), {"deadline_ms": -1}, "received -1"),
    (np.zeros((2, 28, 28)), {"policy": "confidence"}, "policy must be an ExitPolicy"),
])
def test_bad_input_is_refused_in_one_line(batched, examples, options, message):
    with pytest.raises(MexitError) as error:
        batched.predict_batch(examples, **options)
    assert message in str(error.value) and "\n" not in str(error.value), str(error.value)


def test_a_closed_batched_cascade_refuses(cascade):
    runner = BatchedCascade(cascade)
    runner.close()
    runner.close()
    with pytest.raises(MexitError, match="closed"):
        runner.predict_batch(np.zeros((2, 28, 28)))


def test_every_exit_head_batches(bundle):
    """The all-heads bundle (every exit head architecture, one per stage): each stage
    batches inside XNNPACK and answers as `predict` does."""
    with Cascade(bundle) as heads, warnings.catch_warnings():
        warnings.simplefilter("error", BatchingWarning)
        runner = BatchedCascade(heads)
        images = tiny_images(24, seed=3)
        got = runner.predict_batch(images, batch_size=16, run_to_end=True)
        for stage in range(runner.num_stages):
            assert runner.delegation(stage, 16)["partitions"] == \
                runner.delegation(stage, 1)["partitions"], heads.manifest["stages"][stage]
        want = [heads.predict(image, run_to_end=True) for image in images]
        assert max(float(np.abs(g.output - w.output).max())
                   for g, w in zip(got, want, strict=True)) <= 1e-5
        all_stages, _ = heads.run_all(images, progress=False)
        policy = PatiencePolicy(2, len(all_stages))
        got = runner.predict_batch(images, batch_size=5, policy=policy)
        assert [r.exit_index for r in got] == \
            [heads.predict(image, policy=policy).exit_index for image in images]
        runner.close()


@pytest.fixture(scope="module")
def regression_bundle(tmp_path_factory):
    """A tiny regression model with (mean, log-variance) exits, exported."""
    keras.utils.set_random_seed(0)
    backbone = mexit_tf.ViTBackbone(image_shape=(8, 8, 1), patch_size=2, hidden_dim=16,
                                    num_heads=2, mlp_dim=32, num_layers=3)
    model = mexit_tf.MultiExitModel(backbone, exits={1: "mlp_ee", 2: "sl_vit"}, num_outputs=1,
                                    predict_variance=True)
    model.compile()
    x = tiny_images(64, seed=1)
    y = x.reshape(64, -1).mean(-1) / 64.0
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path_factory.mktemp("regression") / "bundle"
    export_bundle(model, path, (x, y), target_loss=0.5, progress=False, latency_runs=3)
    return path, tiny_images(60, seed=2)


@pytest.mark.parametrize("kind", ["agreement", "std"])
def test_regression_policies_decide_as_predict(regression_bundle, kind):
    from mexit_tf.gating import AgreementPolicy, VariancePolicy

    path, images = regression_bundle
    with Cascade(path) as regression, BatchedCascade(regression) as runner:
        outputs, _ = regression.run_all(images, progress=False)
        if kind == "agreement":
            policy = AgreementPolicy([float(np.median(AgreementPolicy.scores(outputs, 1)))])
        else:
            policy = VariancePolicy([float(np.median(VariancePolicy.scores(outputs, k)))
                                     for k in range(len(outputs) - 1)])
        want = [regression.predict(image, policy=policy) for image in images]
        assert len({r.exit_index for r in want}) >= 2, kind
        for batch_size in (1, 7, 64):
            got = runner.predict_batch(images, batch_size=batch_size, policy=policy)
            assert [r.exit_index for r in got] == [r.exit_index for r in want], kind
            assert all(r.label is None and r.output.shape == (2,) for r in got)
            assert max(float(np.abs(g.output - w.output).max())
                       for g, w in zip(got, want, strict=True)) <= 1e-5


@pytest.fixture(scope="module")
def throughput_module():
    """benchmarks/throughput.py, loaded as a module."""
    from conftest import load_benchmark

    return load_benchmark("throughput")


def test_the_throughput_benchmark_runs_at_smoke_size(throughput_module, tmp_path):
    result = throughput_module.main(["--smoke", "--ti16", "--out",
                                     str(tmp_path / "throughput.json")])
    assert result["smoke"] and (tmp_path / "throughput.json").exists()
    assert set(result["configs"]) == {"CPU preset float32", "Ti/16 224x224 float32",
                                      "Ti/16 224x224 int8"}
    for name, config in result["configs"].items():
        measured = config["by_threads"]["1"]
        assert measured["same_exits_as_batch_1"] and not measured["unbatchable_stages"], name
        for size in config["batch_sizes"]:
            row = measured["candidates"][f"batched_cascade@{size}"]
            assert row["images_per_s"] > 0
            assert row["accuracy"] == measured["candidates"]["cascade_b1"]["accuracy"]
    # The synthetic Ti/16 policy sends rows out at every early exit.
    mix = result["configs"]["Ti/16 224x224 float32"]["by_threads"]["1"]["candidates"][
        "cascade_b1"]["exit_mix"]
    assert all(share > 0 for share in mix[:3]), mix


def test_the_eval_timing_compares_two_trees_end_to_end(throughput_module, fashion):
    timing = throughput_module.eval_timing(str(ROOT), fashion[0], 1, limit=300,
                                           data="fashion_mnist")
    # The same tree on both sides: the same per-exit table, two positive times.
    assert timing["same_per_exit_table"] and timing["examples"] == 300
    assert min(timing["seconds"].values()) > 0


def test_a_mix_policy_sends_the_asked_shares_out(throughput_module):
    rng = np.random.default_rng(0)
    outputs = [rng.standard_normal((1000, 10)) for _ in range(4)]
    policy = throughput_module.mix_policy(outputs, [0.5, 0.3, 0.1])
    exits = policy.select_exits(outputs)
    np.testing.assert_allclose(np.bincount(exits, minlength=4) / 1000, [0.5, 0.3, 0.1, 0.1],
                               atol=0.002)
