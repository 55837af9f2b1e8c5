"""Accuracy vs mean latency: the picture people look at before reading numbers."""

import numpy as np

from mexit_tf.gating.calibration import policy_outcome
from mexit_tf.gating.confidence_policy import ConfidencePolicy


def tradeoff_points(outputs, labels, stage_ms, exit_names, chosen=None) -> dict:
    """What `draw_tradeoff` plots, as plain numbers (JSON-ready).

    `static`: each exit alone at its cumulative latency; `sweep`: the
    confidence policy with one shared threshold from 0.3 to 1; `chosen`: the
    calibrated policy's point, if given.
    """
    labels = np.asarray(labels)
    cumulative = np.cumsum(stage_ms)
    points = {"static": [{"exit": name, "ms": float(ms),
                          "accuracy": float(np.mean(o.argmax(-1) == labels))}
                         for name, ms, o in zip(exit_names, cumulative, outputs, strict=True)],
              "sweep": []}
    for threshold in np.linspace(0.3, 1.0, 36):
        policy = ConfidencePolicy([threshold] * (len(outputs) - 1))
        outcome = policy_outcome(policy, outputs, labels, stage_ms)
        points["sweep"].append({"ms": outcome["mean_cost"], "accuracy": outcome["accuracy"]})
    if chosen is not None:
        outcome = policy_outcome(chosen, outputs, labels, stage_ms)
        points["chosen"] = {"ms": outcome["mean_cost"], "accuracy": outcome["accuracy"]}
    return points


def draw_tradeoff(points: dict, path, title=None) -> None:
    """Saves `tradeoff_points`' numbers as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    static = points["static"]
    ax.plot([p["ms"] for p in static], [p["accuracy"] for p in static], "s--", color="grey",
            label="stop at exit k (static)")
    for point in static:
        ax.annotate(point["exit"], (point["ms"], point["accuracy"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=7)
    ax.plot([p["ms"] for p in points["sweep"]], [p["accuracy"] for p in points["sweep"]], "-",
            color="tab:blue", label="confidence policy, shared threshold")
    if "chosen" in points:
        ax.plot(points["chosen"]["ms"], points["chosen"]["accuracy"], "*", color="tab:red",
                markersize=14, label="calibrated policy")
    ax.set_xlabel("mean latency per image (ms, LiteRT, 1 thread)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(title or "Accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_tradeoff(outputs, labels, stage_ms, exit_names, path, chosen=None, title=None):
    """Saves a PNG: each exit alone, the confidence-threshold sweep, the chosen policy."""
    draw_tradeoff(tradeoff_points(outputs, labels, stage_ms, exit_names, chosen), path, title)
