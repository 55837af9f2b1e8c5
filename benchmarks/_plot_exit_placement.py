"""The exit-placement study's plot, drawn from its results JSON alone."""

BUNDLE_STYLE = {"full": ("tab:blue", "o-"), "pruned": ("tab:orange", "s--"),
                "full again": ("tab:gray", "^:")}  # the A/A control


def plot_exit_placement(result: dict, path) -> None:
    """Four panels: per exit, the policy's share and the measured cost (dropped exits
    hatched); full vs pruned accuracy against mean latency per target; late share and
    accuracy per deadline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), dpi=110)
    exits, costs_ax = result["exits"], axes[0][0]
    names = [row["exit"] for row in exits]
    bars = costs_ax.bar(names, [row["test_share"] for row in exits], color="tab:blue", alpha=0.7,
                        label="share of test examples leaving there (full bundle)")
    for bar, row in zip(bars, exits, strict=True):
        if not row["kept"]:
            bar.set_hatch("//")
            bar.set_alpha(0.35)
    costs_ax.set_ylabel("share of test examples")
    twin = costs_ax.twinx()
    early = [row for row in exits if row["head_boundary_ms"] is not None]
    twin.plot([row["exit"] for row in early], [row["head_boundary_ms"] for row in early], "kD:",
              label="head + boundary (ms, measured)")
    twin.set_ylabel("head + stage boundary (ms)")
    twin.set_ylim(bottom=0)
    costs_ax.set_title("Where the policy sends examples; what each exit costs\n"
                       "(hatched: dropped)")
    # One legend for both axes, above the bars (two overlapped where the bars are tall).
    costs_ax.set_ylim(top=1.3 * max(row["test_share"] for row in exits))
    twin.set_ylim(top=1.3 * max([row["head_boundary_ms"] for row in early] or [1.0]))
    handles = costs_ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    costs_ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center",
                    fontsize=7, ncols=2)

    targets_ax = axes[0][1]
    for bundle, (color, style) in BUNDLE_STYLE.items():
        rows = [row for row in result["targets"] if bundle in row]
        targets_ax.plot([r[bundle]["mean_ms"] for r in rows], [r[bundle]["accuracy"] for r in rows],
                        style, color=color, label=bundle)
        for r in rows:
            targets_ax.annotate(f"{r['target_points']:g}", (r[bundle]["mean_ms"],
                                                           r[bundle]["accuracy"]),
                                textcoords="offset points", xytext=(4, 3), fontsize=7)
    targets_ax.set_xlabel("mean latency per example (ms, measured)")
    targets_ax.set_ylabel("test accuracy")
    targets_ax.set_title("Calibrated for accuracy-loss targets (points, labelled)")
    targets_ax.legend(fontsize=8)

    deadlines = [row["deadline_ms"] for row in result["deadlines"]]
    for ax, key, label in ((axes[1][0], "late_share", "share of examples late"),
                           (axes[1][1], "accuracy", "test accuracy")):
        for bundle, (color, style) in BUNDLE_STYLE.items():
            ax.plot(deadlines, [row[bundle][key] for row in result["deadlines"]], style,
                    color=color, label=bundle)
        ax.set_xscale("log")
        ax.set_xlabel("deadline (ms, log)")
        ax.set_ylabel(label)
        ax.set_title(f"predict(x, deadline_ms=D): {label}")
        ax.legend(fontsize=8)
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    untrained = result.get("untrained_exits")
    fig.suptitle(f"Exit placement by measurement ({result['dataset']}, "
                 f"{result.get('head', 'mlp_ee')} exits"
                 + (f"; exits {', '.join(map(str, untrained))} untrained, a positive control"
                    if untrained else "") + ")")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
