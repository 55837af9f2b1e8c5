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
