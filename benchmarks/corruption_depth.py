"""Does depth help more on harder inputs? Per-exit accuracy on Fashion-MNIST-C by severity.

A multi-exit XS/4 model (an `mlp_ee` exit after every block, the CPU preset's
layout and recipe) is trained on `fashion_mnist_c`, Fashion-MNIST with one graded
corruption per image (a third clean, the rest spread over eight families and
severities 1-5; `mexit_tf.data.fashion_mnist_c`). Each exit's test accuracy is
broken down by severity (0 = clean) and by family; the gain of the final exit over
exit 1 by severity says whether depth pays more where inputs are harder.

    python benchmarks/corruption_depth.py   # 20k train images, 1 epoch (~5 min, 2 idle CPUs)
    python benchmarks/corruption_depth.py --train-images 40000 --epochs 2  # ~4x the training
    python benchmarks/corruption_depth.py --train-images 55000 --epochs 7  # preset's budget
    python benchmarks/corruption_depth.py --smoke  # tiny model on corrupted noise, for tests
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, save_result  # noqa: E402
from _study import accuracy, study_backbone, study_recipe, train_cached  # noqa: E402

from mexit_tf.data.array_batches import ArrayBatches  # noqa: E402
from mexit_tf.data.corruptions import SEVERITIES  # noqa: E402
from mexit_tf.models.multi_exit_model import MultiExitModel  # noqa: E402

SEED = 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--work", default="runs/study", help="cache of trained models")
    parser.add_argument("--smoke", action="store_true")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = _data(args.train_images, args.smoke)
    recipe = study_recipe(args.train_images, args.epochs, args.smoke)
    # The corruptions are part of what the model learnt: a retuned table retrains it.
    recipe.update(dataset="fashion_mnist_c", corruptions=SEVERITIES)
    num_layers = study_backbone(args.smoke).num_layers
    model, fit_seconds = train_cached(
        "corruption_depth_multi_exit",
        lambda: MultiExitModel(study_backbone(args.smoke),
                               exits={b: "mlp_ee" for b in range(1, num_layers)},
                               num_outputs=len(data.class_names)),
        data, recipe, None if args.smoke else Path(args.work))
    outputs = model.predict(ArrayBatches(data.x_test, batch_size=256, shuffle=False), verbose=0)
    info = data.per_example["test"]
    result = {"data": data.describe(), "recipe": recipe, "exits": list(model.exit_names),
              "corruption_mix": data.record.get("corruptions", {}).get("mix", ""),
              **breakdowns(outputs, data.y_test, info["severity"], info["family"]),
              "fit_seconds": fit_seconds}
    result["depth_gain"] = depth_gain(result)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    if not args.smoke:
        save_result("corruption_depth", result, "python benchmarks/corruption_depth.py "
                    f"--train-images {args.train_images} --epochs {args.epochs}", SEED,
                    note=args.note)
    print(_severity_table(result))
    print(result["depth_gain"])
    return result


def _data(train_images: int, smoke: bool):
    """Fashion-MNIST-C (first `train_images` of the train split), or for `--smoke` the
    8x8 noise of `smoke_data` put through the same corruptions."""
    if not smoke:
        from mexit_tf.data import load_fashion_mnist_c

        return load_fashion_mnist_c(seed=SEED).subset(train_images)
    from _common import smoke_data

    from mexit_tf.data.fashion_mnist_c import corrupt_split

    data = smoke_data()
    for index, split in enumerate(("train", "validation", "test")):
        name = {"train": "x_train", "validation": "x_val", "test": "x_test"}[split]
        images, data.per_example[split] = corrupt_split(getattr(data, name),
                                                        np.random.default_rng([SEED, index]))
        setattr(data, name, images)
    return data


def breakdowns(outputs: dict, labels, severity, family) -> dict:
    """Each exit's accuracy overall, by severity, by family, and by family x severity."""
    labels, severity, family = map(np.asarray, (labels, severity, family))
    levels = sorted(set(severity.tolist()))
    families = sorted(set(family.tolist()) - {"none"})

    def score(logits, mask):
        return accuracy(logits[mask], labels[mask]) if mask.any() else None

    result = {"overall": {}, "by_severity": {}, "by_family": {}, "by_family_severity": {},
              "counts": {"by_severity": {str(s): int(np.sum(severity == s)) for s in levels},
                         "by_family": {f: int(np.sum(family == f)) for f in families}}}
    for name, logits in outputs.items():
        logits = np.asarray(logits)
        result["overall"][name] = accuracy(logits, labels)
        result["by_severity"][name] = {str(s): score(logits, severity == s) for s in levels}
        result["by_family"][name] = {f: score(logits, family == f) for f in families}
        result["by_family_severity"][name] = {
            f: {str(s): score(logits, (family == f) & (severity == s)) for s in levels if s}
            for f in families}
    return result


def depth_gain(result: dict) -> dict:
    """Final exit minus exit 1, in points, by severity and by family; and whether the gain
    grows with severity (clean vs severity 5, and how many steps up rise)."""
    first, final = result["exits"][0], result["exits"][-1]

    def points(table):
        return {key: round(100 * (table[final][key] - table[first][key]), 2)
                for key in table[final] if table[final][key] is not None}

    by_severity = points(result["by_severity"])
    gains = [by_severity[key] for key in sorted(by_severity, key=int)]
    return {"first": first, "final": final,
            "overall_points": round(100 * (result["overall"][final] - result["overall"][first]),
                                    2),
            "by_severity_points": by_severity, "by_family_points": points(result["by_family"]),
            "hardest_beats_clean": bool(gains[-1] > gains[0]),
            "rising_steps": f"{int(np.sum(np.diff(gains) > 0))} of {len(gains) - 1}"}


def _severity_table(result: dict) -> str:
    levels = sorted(result["by_severity"][result["exits"][-1]], key=int)
    lines = ["exit       overall " + " ".join(f"sev{s:>3s}" for s in levels)]
    for name in result["exits"]:
        row = result["by_severity"][name]
        lines.append(f"{name:10s} {result['overall'][name]:7.4f} "
                     + " ".join(f"{row[s]:6.4f}" for s in levels))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
