"""The report's plots, drawn from the results JSON alone (so `report.py` redraws them)."""

REGIME_MARKERS = {"end_to_end": "o", "classifier_wise": "s", "copycat": "^"}
POLICY_COLORS = {"confidence": "tab:blue", "entropy": "tab:orange", "margin": "tab:green",
                 "patience": "tab:purple"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_exit_heads(result: dict, path) -> None:
    """One panel per depth: each head's accuracy against its own latency, per regime."""
    plt = _pyplot()
    depths = result["depths"]
    fig, axes = plt.subplots(1, len(depths), figsize=(5 * len(depths), 4.2), dpi=110,
                             sharey=True)
    for ax, depth in zip(axes, depths, strict=True):
        for regime, marker in REGIME_MARKERS.items():
            xs = [row["head_ms"] for row in result["heads"].values()]
            ys = [row["accuracy"][regime][str(depth)] for row in result["heads"].values()]
            ax.scatter(xs, ys, marker=marker, label=regime.replace("_", " "), alpha=0.8)
        for head, row in result["heads"].items():
            ax.annotate(head, (row["head_ms"], row["accuracy"]["end_to_end"][str(depth)]),
                        textcoords="offset points", xytext=(4, 3), fontsize=7)
        ax.set_xscale("log")
        ax.set_title(f"exit after block {depth} of {result['num_layers']}")
        ax.set_xlabel("head latency (ms, LiteRT, 1 thread, log)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[0].legend(fontsize=8)
    fig.suptitle("Exit heads on Fashion-MNIST: accuracy vs overhead")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_policy_study(result: dict, path) -> None:
    """One panel per bundle: each policy's calibrated points vs truncated models."""
    plt = _pyplot()
    bundles = result["bundles"]
    fig, axes = plt.subplots(1, len(bundles), figsize=(6 * len(bundles), 4.5), dpi=110,
                             sharey=True)
    baselines = result["truncated"]
    for ax, (name, curves) in zip(axes, bundles.items(), strict=True):
        for kind, points in curves["policies"].items():
            ax.plot([p["mean_ms"] for p in points], [p["test_accuracy"] for p in points], "o-",
                    color=POLICY_COLORS.get(kind), markersize=3, label=f"{kind} policy")
        static = curves["static"]
        ax.plot([p["ms"] for p in static], [p["test_accuracy"] for p in static], "s--",
                color="grey", markersize=4, label="stop at exit k (static)")
        depths = sorted(baselines, key=int)
        ax.plot([baselines[d]["ms"] for d in depths],
                [baselines[d]["test_accuracy"] for d in depths], "D:", color="black",
                markersize=4, label="truncated backbone, trained alone (float32)")
        last = baselines[depths[-1]]
        ax.plot(last["ms"], last["test_accuracy"], "*", color="tab:red", markersize=13,
                label="final exit alone (float32)")
        ax.set_title(f"{name} bundle")
        ax.set_xlabel("mean latency per image (ms, LiteRT, 1 thread)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy")
    axes[-1].legend(fontsize=7, loc="lower right")
    data = "Fashion-MNIST-C" if result.get("dataset") == "fashion_mnist_c" else "Fashion-MNIST"
    fig.suptitle(f"Policies calibrated on validation, measured on test ({data})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_deadline_study(result: dict, path) -> None:
    """Rows: CPU preset idle / loaded, Ti/16 idle / loaded (when it ran: not on
    Fashion-MNIST-C); columns: accuracy, late, p99."""
    plt = _pyplot()
    panels = [(name, state, model["states"][state], "accuracy" in
               next(iter(model["states"][state][0]["candidates"].values())))
              for name, model in (("CPU preset", result["cpu_preset"]),
                                  ("Ti/16 224x224", result["ti16_224"])) if model
              for state in ("idle", "loaded")]
    fig, axes = plt.subplots(len(panels), 3, figsize=(15, 3.4 * len(panels)), dpi=100)
    gated, ungated = (f"{kind} {result['default_setting']}" for kind in ("gated", "ungated"))
    for row_axes, (name, state, table, has_accuracy) in zip(axes, panels, strict=True):
        deadlines = [row["deadline_ms"] for row in table]
        lines = {"anytime, gated": gated, "anytime, deadline only": ungated,
                 "budget policy (idle latencies)": "budget"}
        statics = [c for c in table[0]["candidates"] if c.startswith("truncated")]
        for column, (key, label) in enumerate((("accuracy", "accuracy"),
                                               ("miss_rate", "late (share of answers)"),
                                               ("p99_ms", "p99 ms"))):
            ax = row_axes[column]
            if key == "accuracy" and not has_accuracy:
                ax.axis("off")
                ax.text(0.5, 0.5, "random init: no accuracy", ha="center", va="center")
                continue
            for legend, candidate in lines.items():
                ax.plot(deadlines, [row["candidates"][candidate][key] for row in table], "o-",
                        markersize=3, label=legend)
            for static in (statics[0], statics[len(statics) // 2], statics[-1]):
                ax.plot(deadlines, [row["candidates"][static][key] for row in table], "s:",
                        markersize=3, label=f"{static} (static)", alpha=0.7)
            if key == "miss_rate":
                ax.plot(deadlines, [row["floor_miss_rate"] for row in table], "k--",
                        label="floor: stage 0 alone")
            if key == "p99_ms":
                ax.plot(deadlines, deadlines, color="grey", lw=0.8, label="deadline")
            ax.set_xscale("log")
            ax.set_xlabel("deadline (ms, log)")
            ax.set_title(f"{name}, {state}: {label}", fontsize=9)
            ax.grid(alpha=0.3)
        row_axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_corruption_depth(result: dict, path) -> None:
    """Per-exit test accuracy against corruption severity (0 = clean), one line per exit."""
    plt = _pyplot()
    exits = result["exits"]
    levels = sorted(result["by_severity"][exits[-1]], key=int)
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=110)
    colors = plt.cm.viridis([i / max(1, len(exits) - 1) for i in range(len(exits))])
    for name, color in zip(exits, colors, strict=True):
        ax.plot([int(s) for s in levels], [result["by_severity"][name][s] for s in levels],
                "o-", color=color, markersize=4, label=name.replace("_", " "))
    ax.set_xticks([int(s) for s in levels])
    ax.set_xlabel("corruption severity (0 = clean)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="exit (block)", title_fontsize=8)
    ax.set_title("Fashion-MNIST-C: accuracy by severity at each exit", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
