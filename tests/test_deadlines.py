"""Deadlines: the anytime cascade on an injected clock (no timed tests), its latency model,
the interruptible form, and the CLI's --deadline-ms."""

import json
import threading

import numpy as np
import pytest
from conftest import run_mexit, tiny_images

from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy
from mexit_tf.runtime import Cascade
from mexit_tf.runtime.anytime_run import AnytimeRun
from mexit_tf.runtime.latency_model import LatencyModel

NEVER = ExitPolicy.from_dict({"type": "confidence", "thresholds": [1.0, 1.0]})
ALWAYS = ExitPolicy.from_dict({"type": "confidence", "thresholds": [0.0, 0.0]})


class FakeStages:
    """Three stages that "take" scripted milliseconds on a fake nanosecond clock."""

    def __init__(self, millis=(1.0, 1.0, 1.0)):
        self.now, self.millis, self.ran = 0, list(millis), []

    def clock(self):
        return self.now

    def run_stage(self, index):
        self.ran.append(index)
        self.now += int(self.millis[index] * 1e6)
        return np.zeros((1, 3), np.float32)


def _run(stages, policy=NEVER, deadline_ms=None, model=None, run_to_end=False):
    model = model or LatencyModel([1.0, 1.0, 1.0], margin=0.1)
    run = AnytimeRun(stages.run_stage, 3, policy, lambda *a: a,
                     None if deadline_ms is None else int(deadline_ms * 1e6), model,
                     clock=stages.clock, run_to_end=run_to_end)
    index, _, stage_ms, stopped_by = run.run()
    return index, stopped_by, run.deadline_met, run.elapsed_ns / 1e6, stage_ms


def test_without_a_deadline_the_policy_or_the_last_stage_ends_the_run():
    assert _run(FakeStages(), ALWAYS)[:3] == (0, "policy", None)
    assert _run(FakeStages(), NEVER)[:3] == (2, "last_stage", None)


def test_the_next_stage_runs_only_if_its_prediction_fits():
    stages = FakeStages()
    # Predicted 1.1 ms per stage (seed 1 ms, margin 0.1): after 2 ms, a third needs 3.1.
    assert _run(stages, deadline_ms=3.0) == (1, "deadline", True, 2.0, [1.0, 1.0])
    assert stages.ran == [0, 1]
    assert _run(FakeStages(), deadline_ms=3.2)[:3] == (2, "last_stage", True)


def test_stage_zero_always_runs_and_alone_can_miss():
    stages = FakeStages(millis=(5.0, 1.0, 1.0))
    assert _run(stages, deadline_ms=2.0)[:4] == (0, "deadline", False, 5.0)
    assert stages.ran == [0]


def test_the_policy_still_leaves_early_under_a_deadline():
    assert _run(FakeStages(), ALWAYS, deadline_ms=10.0)[:3] == (0, "policy", True)
    # run_to_end ignores the policy but not the deadline
    assert _run(FakeStages(), ALWAYS, deadline_ms=2.5, run_to_end=True)[:2] == (1, "deadline")


def test_the_latency_model_learns_a_slowdown_from_stage_zero_and_forgets_it():
    model = LatencyModel([1.0, 1.0, 1.0], window=10, quantile=1.0, margin=0.0, min_runs=100)
    slow = FakeStages(millis=(3.0, 1.0, 1.0))
    # Stage 0 runs 3x slower than its seed: stage 1 is now predicted at 3 ms.
    assert _run(slow, deadline_ms=5.0, model=model)[:2] == (0, "deadline")
    assert model.predict_ns(1) == 3_000_000
    for _ in range(10):
        _run(FakeStages(), deadline_ms=1.5, model=model)
    assert model.predict_ns(1) == 1_000_000  # the window has forgotten the slow spell


def test_building_the_answer_is_learned_and_budgeted():
    model = LatencyModel([1.0, 1.0, 1.0], quantile=1.0, margin=0.0)
    stages = FakeStages()

    def slow_answer(*args):  # building the answer takes 0.5 ms
        stages.now += 500_000
        return args

    run = AnytimeRun(stages.run_stage, 3, NEVER, slow_answer, clock=stages.clock,
                     latency_model=model)
    run.run()
    assert run.elapsed_ns == 3_500_000 and model.predict_finish_ns() == 500_000
    # 2 ms spent + 1 ms for stage 2 fits in 3.2 ms, but not with 0.5 ms to build the answer
    stages = FakeStages()
    run = AnytimeRun(stages.run_stage, 3, NEVER, lambda *a: a, 3_200_000, model,
                     clock=stages.clock)
    assert run.run()[0] == 1 and run.stopped_by == "deadline"


def test_a_slow_spell_in_preparing_inputs_does_not_keep_deep_stages_away():
    model = LatencyModel([1.0, 1.0, 1.0], quantile=1.0, margin=0.0)
    for _ in range(60):  # preparing each input takes 9 ms; the stages stay at 1 ms
        stages = FakeStages()
        run = AnytimeRun(stages.run_stage, 3, NEVER, lambda *a: a, 10_000_000, model,
                         clock=stages.clock, started_ns=-9_000_000)
        assert run.run()[0] == 0 and run.stopped_by == "deadline"  # 9 + 1 ms: no room
    assert model.predict_prepare_ns() == 9_000_000 and model.predict_ns(1) == 1_000_000
    # Inputs are quick again: the very next run goes all the way (before preparation was
    # learned apart, stage 0 looked 10x slow and deep stages stayed out for a window).
    assert _run(FakeStages(), deadline_ms=10.0, model=model)[:2] == (2, "last_stage")


def test_the_baseline_becomes_the_stages_own_median():
    model = LatencyModel([1.0, 4.0], window=8, quantile=0.5, margin=0.0, min_runs=3)
    for step in (2_000_000, 2_000_000, 2_000_000):
        model.observe(1, step)
    assert model.baseline_ns(1) == 2_000_000
    # stage 1 ran at half its seed: the machine looks twice as fast for stage 0 too
    assert model.to_dict()["predicted_ms"] == [0.5, 1.0]


@pytest.mark.parametrize("kwargs", [dict(window=0), dict(quantile=0), dict(quantile=1.5),
                                    dict(margin=-0.1), dict(margin=float("nan"))])
def test_latency_model_refuses_bad_settings(kwargs):
    with pytest.raises(MexitError, match="received"):
        LatencyModel([1.0], **kwargs)


def test_another_thread_stops_the_run_and_best_is_the_deepest_answer():
    stages = FakeStages()
    first_done, may_go_on = threading.Event(), threading.Event()
    original = stages.run_stage

    def run_stage(index):
        if index == 1:  # the run waits here until the other thread has looked and stopped it
            first_done.set()
            may_go_on.wait(5)
        return original(index)

    run = AnytimeRun(run_stage, 3, NEVER, lambda *a: a, clock=stages.clock)
    assert run.best() is None
    worker = threading.Thread(target=run.run)
    worker.start()
    assert first_done.wait(5)
    index, logits = run.best()
    assert index == 0 and logits.shape == (1, 3)
    run.stop()
    may_go_on.set()
    worker.join(5)
    assert run.result()[0] == 1 and run.result()[3] == "interrupted"
    assert stages.ran == [0, 1]


def test_cascade_predict_with_an_injected_clock(bundle):
    now = [0]
    cascade = Cascade(bundle, clock=lambda: now[0])
    cascade.latency_model = LatencyModel([2.0] * len(cascade.stages))
    for stage in cascade.stages:  # each real stage "takes" 2 ms on the fake clock
        original = stage.run_roles

        def timed(state, original=original):
            now[0] += 2_000_000
            return original(state)
        stage.run_roles = timed
    x = tiny_images(1)[0]
    full = cascade.predict(x, policy=NEVER_ALL(cascade), deadline_ms=1000)
    assert full.stopped_by == "last_stage" and full.deadline_met
    assert full.exit_index == len(cascade.stages) - 1
    assert full.elapsed_ms == pytest.approx(2.0 * len(cascade.stages))
    tight = cascade.predict(x, policy=NEVER_ALL(cascade), deadline_ms=5.0)
    # 2 ms per stage, as measured: 2 stages fit in 5 ms, not 3
    assert (tight.exit_index, tight.stopped_by, tight.deadline_met) == (1, "deadline", True)
    assert tight.to_dict()["stopped_by"] == "deadline"
    with pytest.raises(MexitError, match="positive number of milliseconds; received -1"):
        cascade.predict(x, deadline_ms=-1)


def NEVER_ALL(cascade):  # noqa: N802 - reads like the constants above
    return ExitPolicy.from_dict({"type": "confidence",
                                 "thresholds": [1.0] * (len(cascade.stages) - 1)})


def test_evaluate_under_a_deadline_reports_misses_and_the_exit_mix(bundle):
    cascade = Cascade(bundle)
    report = cascade.evaluate(tiny_images(12), np.zeros(12, int), deadline_ms=1000,
                              progress=False)
    assert report["miss_rate"] == 0.0 and report["examples"] == 12
    assert abs(sum(report["exit_histogram"].values()) - 1) < 1e-6
    assert sum(report["stopped_by"].values()) == 12


def test_cli_deadlines(bundle, tmp_path):
    from PIL import Image

    image = tmp_path / "x.png"
    Image.fromarray(tiny_images(1)[0][..., 0]).save(image)
    done = run_mexit("predict", bundle, image, "--deadline-ms", "1000", "--json")
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout)[0]
    assert row["deadline_met"] is True and row["stopped_by"] in ("policy", "last_stage")
    for bad in ("0", "-2", "nan", "soon", "1,,2", "inf"):
        refused = run_mexit("eval", bundle, "--deadline-ms", bad)
        assert refused.returncode == 2
        assert f"received '{bad}'" in refused.stderr and "Traceback" not in refused.stderr
        assert refused.stderr.count("\n") == 1
