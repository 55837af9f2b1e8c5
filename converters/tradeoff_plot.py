"""Accuracy vs mean latency: the picture people look at before reading numbers."""

import numpy as np

from mexit_tf.gating.calibration import policy_outcome
from mexit_tf.gating.confidence_policy import ConfidencePolicy


def plot_tradeoff(outputs, labels, stage_ms, exit_names, path, chosen=None, title=None):
    """Saves a PNG: each exit alone, the confidence-threshold sweep, the chosen policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = np.asarray(labels)
    cumulative = np.cumsum(stage_ms)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    static = [float(np.mean(o.argmax(-1) == labels)) for o in outputs]
    ax.plot(cumulative, static, "s--", color="grey", label="stop at exit k (static)")
    for name, x, y in zip(exit_names, cumulative, static, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    sweep = [policy_outcome(ConfidencePolicy([t] * (len(outputs) - 1)), outputs, labels,
                            stage_ms) for t in np.linspace(0.3, 1.0, 36)]
    ax.plot([s["mean_cost"] for s in sweep], [s["accuracy"] for s in sweep], "-",
            color="tab:blue", label="confidence policy, shared threshold")
    if chosen is not None:
        point = policy_outcome(chosen, outputs, labels, stage_ms)
        ax.plot(point["mean_cost"], point["accuracy"], "*", color="tab:red", markersize=14,
                label="calibrated policy")
    ax.set_xlabel("mean latency per image (ms, LiteRT, 1 thread)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(title or "Accuracy vs latency")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
