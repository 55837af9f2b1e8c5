"""Golden fixture for the Kotlin cascade core: real per-exit outputs and Python's decisions.

    python -m mexit_tf.converters.golden_fixture BUNDLE OUT.json [--count 300]

Runs the bundle's stages on the first `count` Fashion-MNIST test images and
records, per image, every exit's logits and, per policy (the bundle's own
calibrated policy plus entropy, margin, patience and budget policies
calibrated on the same outputs), the exit and label the Python runtime picks.
The Kotlin tests (android_demo/core) replay it and must agree on every case.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mexit_tf.atomic_files import write_text_atomic
from mexit_tf.gating import calibrate_policy
from mexit_tf.gating.exit_policy import ExitPolicy
from mexit_tf.runtime.cascade import Cascade


def fixture_policies(cascade, outputs, labels) -> list[ExitPolicy]:
    costs = [stage["cost"]["latency_ms"] for stage in cascade.manifest["stages"]]
    policies = [cascade.policy]
    for kind in ("entropy", "margin", "patience"):
        policies.append(calibrate_policy(kind, outputs, labels, costs, target_loss=0.01)[0])
    policies.append(calibrate_policy("budget", outputs, labels, costs, target_loss=None,
                                     budget=0.5 * float(np.sum(costs)))[0])
    return policies


def write_golden_fixture(bundle, images, labels, out, source: str) -> dict:
    cascade = Cascade(bundle)
    outputs, _ = cascade.run_all(images, progress=False)
    policies = fixture_policies(cascade, outputs, labels)
    decisions = []
    for policy in policies:
        exits = policy.select_exits(outputs)
        answers = [int(outputs[e][i].argmax()) for i, e in enumerate(exits)]
        decisions.append(list(zip(exits.tolist(), answers, strict=True)))
    cases = [{"outputs": [[float(v) for v in outputs[k][i]] for k in range(len(outputs))],
              "label": int(labels[i]),
              "expected": [list(decisions[p][i]) for p in range(len(policies))]}
             for i in range(len(images))]
    fixture = {"format": 1, "source": source, "manifest": cascade.manifest,
               "policies": [policy.to_dict() for policy in policies], "cases": cases}
    write_text_atomic(Path(out), json.dumps(fixture, separators=(",", ":")) + "\n")
    return fixture


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args(argv)
    from mexit_tf.data import load_fashion_mnist

    data = load_fashion_mnist()
    fixture = write_golden_fixture(args.bundle, data.x_test[:args.count],
                                   data.y_test[:args.count], args.out,
                                   f"first {args.count} Fashion-MNIST test images, "
                                   f"{data.source}; bundle {args.bundle}")
    print(f"wrote {args.out}: {len(fixture['cases'])} cases x {len(fixture['policies'])} "
          "policies")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# Deadline traces: the same anytime semantics in Python and Kotlin, on an injected clock.
# Each case is one request: the stages' logits (from the golden fixture), how long each
# stage would take (integer ns, a seeded load pattern: idle, loaded, spikes), a deadline
# (or none) and a policy (or run-to-end). Cases run in order through ONE latency model, so
# its learning is part of what must agree.

TRACE_MODEL = {"window": 16, "quantile": 0.9, "margin": 0.1, "min_runs": 3}


def deadline_traces(fixture: dict, count: int = 240, seed: int = 0) -> dict:
    """Trace cases built on a golden fixture's outputs; `expected` is filled by Python."""
    rng = np.random.default_rng(seed)
    seed_ms = [stage["cost"]["latency_ms"] for stage in fixture["manifest"]["stages"]]
    all_stages = sum(seed_ms)
    cases = []
    for index in range(count):
        source = fixture["cases"][index % len(fixture["cases"])]
        # Load comes in episodes of 30 requests: idle, 2x with jitter, then rare 5x spikes.
        episode = (index // 30) % 3
        factor = [1.0, 2.0, 1.0][episode] * rng.uniform(0.9, 1.2, len(seed_ms))
        if episode == 2:
            factor *= np.where(rng.random(len(seed_ms)) < 0.15, 5.0, 1.0)
        choice = rng.integers(0, 5)
        deadline = None if choice == 0 else float(round(
            [0.5 * seed_ms[0], 1.2 * seed_ms[0], 0.5 * all_stages, 1.5 * all_stages][choice - 1],
            6))
        cases.append({"outputs": source["outputs"],
                      "stage_ns": [int(ms * 1e6 * f) for ms, f in zip(seed_ms, factor,
                                                                       strict=True)],
                      "finish_ns": int(seed_ms[0] * 1e6 * rng.uniform(0.02, 0.1)),
                      "deadline_ms": deadline,
                      "policy": None if index % 7 == 6 else int(index % 5)})
    traces = {"format": 1, "seed_ms": seed_ms, "latency_model": TRACE_MODEL,
              "policies": fixture["policies"], "cases": cases}
    for case, expected in zip(cases, replay_deadline_traces(traces), strict=True):
        case["expected"] = expected
    return traces


def replay_deadline_traces(traces: dict) -> list[dict]:
    """Runs every trace case through `AnytimeRun` on a fake clock; what each one did."""
    from mexit_tf.runtime.anytime_run import AnytimeRun
    from mexit_tf.runtime.latency_model import LatencyModel

    model = LatencyModel(traces["seed_ms"], **traces["latency_model"])
    policies = [ExitPolicy.from_dict(p) for p in traces["policies"]]
    now = [0]
    results = []
    for case in traces["cases"]:
        def run_stage(k, case=case):
            now[0] += case["stage_ns"][k]
            return np.array([case["outputs"][k]], dtype=np.float32)

        deadline = case["deadline_ms"]
        def make_result(index, *_, case=case):
            now[0] += case["finish_ns"]  # building the answer takes time too
            return index

        run = AnytimeRun(run_stage, len(case["stage_ns"]),
                         policies[case["policy"] or 0], make_result,
                         None if deadline is None else int(deadline * 1e6), model,
                         clock=lambda: now[0], run_to_end=case["policy"] is None)
        index = run.run()
        results.append({"exit": index, "stopped_by": run.stopped_by,
                        "deadline_met": run.deadline_met, "elapsed_ns": run.elapsed_ns})
    return results


def write_deadline_traces(golden: Path, out: Path) -> dict:
    traces = deadline_traces(json.loads(Path(golden).read_text()))
    write_text_atomic(Path(out), json.dumps(traces, separators=(",", ":")) + "\n")
    return traces
