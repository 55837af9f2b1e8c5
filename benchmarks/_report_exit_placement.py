"""The exit-placement study's section of docs/benchmarks.md (`report.py` style)."""

from _report_common import provenance as _provenance
from _report_common import table as _table


def exit_placement_section(result) -> list[str]:
    """Markdown lines: the rule, what each exit costs and carries, full vs pruned."""
    placement = result["placement"]
    measured = placement["measured"]
    dropped = ", ".join(f"`{d['exit']}`" for d in placement["dropped"]) or "none"
    head = result.get("head", "mlp_ee")
    untrained = result.get("untrained_exits", [])
    title = ", ".join(([] if result["dataset"] == "fashion_mnist_c" else ["clean Fashion-MNIST"])
                      + ([] if head == "mlp_ee" else [f"`{head}` exits"])
                      + ([f"positive control: exits {', '.join(map(str, untrained))} untrained"]
                         if untrained else []))
    title = f" ({title})" if title else ""
    lines = [f"## Exit placement by measurement{title}: drop the exits that do not pay", "",
             f"Data: {result['data']}. Model: XS/4 with an `{head}` exit after every block, "
             f"{result['recipe']['train_images']} training images, {result['recipe']['epochs']} "
             f"epoch(s) (the studies' recipe). The full bundle's confidence policy is "
             f"calibrated on validation for a {result['export_target_points']:g}-point target; "
             "each early exit's cost is its stage and the next run in turn minus the one stage "
             "that runs the same blocks without it (head compute + stage boundary; "
             f"{measured['engine']}, side by side in shuffled order, medians of "
             f"{measured['runs']} runs). Rule: {placement['rule']} "
             f"(min_share {placement['min_share']}).", "",
             f"![exit placement]({_plot_name(result)})", "",
             f"Dropped: {dropped}; kept: {', '.join(f'`{n}`' for n in placement['kept'])}."
             + _kept_for_other_targets(placement), ""]
    if untrained:
        lines += [f"A positive control: the heads of exits {', '.join(map(str, untrained))} "
                  "were replaced by fresh ones, as initialised and never trained (the rest of "
                  "the model is the trained one). No policy can use such an exit, yet every "
                  "input that reaches it pays its head and stage boundary, so placement should "
                  "drop it and the pruned bundle should be measurably faster.", ""]
    full_ms, pruned_ms = placement["full"]["mean_ms"], placement["pruned"]["mean_ms"]
    lines += [f"Expected from the measured costs (validation, policy at "
              f"{result['export_target_points']:g} pts): full {full_ms:.4f} ms, pruned "
              f"{pruned_ms:.4f} ms per example ({100 * (pruned_ms / full_ms - 1):+.1f}%). "
              "The model counts stage invokes only; the cascade's own work per stage (the "
              "policy's check, its bookkeeping) comes on top, and a dropped exit saves it too.",
              ""]
    if not placement["dropped"]:
        lines += ["Nothing was dropped, so *pruned* below is the full bundle exported a second "
                  "time: like *full again*, it differs from *full* only by the measurement.", ""]
    lines += _table(["exit", "test share (full, policy at "
                     f"{result['export_target_points']:g} pts)", "exit accuracy alone",
                     "stage ms", "head + boundary ms", "kept"],
                    [(r["exit"], r["test_share"], r["test_accuracy"], r["stage_ms"],
                      "-" if r["head_boundary_ms"] is None else r["head_boundary_ms"],
                      "yes" if r["kept"] else "**dropped**") for r in result["exits"]])
    drops = [d for d in placement["dropped"] if "share" in d]
    if drops:
        lines += ["", "Why each exit was dropped (validation, in the order dropped; share and "
                  "reach under the policy of that round):", ""]
        lines += _table(["exit", "share", "reach", "head + boundary ms", "mean ms with",
                         "mean ms without", "reason"],
                        [(d["exit"], d["share"], d["reach"], d["head_ms"], d["mean_ms_with"],
                          d["mean_ms_without"], d["reason"]) for d in drops])
    interval = result["interval"]
    lines += ["", f"Full vs pruned on {result['examples']} test examples, each bundle's policy "
              "calibrated on validation per target; latency measured per call (order shuffled "
              "per example). *Full again* is the full bundle loaded once more, the A/A "
              f"control. Each arm is {interval['loads']} loads of its bundle taking the "
              "examples in turn (each load of a bundle has a speed of its own, up to 4% "
              "apart), made round by round beside the other arms' loads in a shuffled order. "
              "A change is the arm's minus full's, paired by load (the k-th loads of all arms "
              "answered the same examples), with its "
              f"{interval['confidence']:.0%} interval over the loads, for all "
              f"{interval['comparisons']} comparisons together (Bonferroni, t quantile "
              f"{interval['t_quantile']}).", ""]
    lines += _table(["target (pts)", "full accuracy", "pruned accuracy", "full mean ms",
                     "pruned mean ms", "pruned vs full", "A/A: full again vs full"],
                    [(r["target_points"], r["full"]["accuracy"], r["pruned"]["accuracy"],
                      r["full"]["mean_ms"], r["pruned"]["mean_ms"],
                      _change(r, "pruned", "mean_ms_change"),
                      _change(r, "full again", "mean_ms_change"))
                     for r in result["targets"] if "pruned vs full" in r])
    lines += ["", "Deadlines (`predict(x, deadline_ms=D)` with each bundle's policy at the "
              "export target); late share in points, mean latency in %:", ""]
    lines += _table(["deadline ms", "full late", "pruned late", "pruned vs full late",
                     "A/A late", "full accuracy", "pruned accuracy", "pruned vs full mean ms",
                     "A/A mean ms"],
                    [(r["deadline_ms"], r["full"]["late_share"], r["pruned"]["late_share"],
                      _change(r, "pruned", "late_share_change"),
                      _change(r, "full again", "late_share_change"), r["full"]["accuracy"],
                      r["pruned"]["accuracy"], _change(r, "pruned", "mean_ms_change"),
                      _change(r, "full again", "mean_ms_change"))
                     for r in result["deadlines"]])
    verdict = result["verdict"]
    lines += ["", "The A/A control finds no difference anywhere (every interval holds 0): "
              f"{_yes(verdict['aa_finds_no_difference'])}. Pruned no slower at every target "
              f"and deadline: {_yes(verdict['no_slower_at_every_target_and_deadline'])}; "
              "no more often late at every deadline: "
              f"{_yes(verdict['no_more_late_at_every_deadline'])}"]
    if placement["dropped"]:
        lines[-1] += (f"; faster at every target: {_yes(verdict['faster_at_every_target'])}")
    lines[-1] += " (no slower: the interval reaches 0 or below; faster: it lies below 0)."
    return lines + ["", _provenance(result), ""]


def _kept_for_other_targets(placement) -> str:
    """The exits of the last round whose removal was no slower at the export target, kept
    because they pay at another target the bundle offers."""
    last = placement["rounds"][-1] if placement["rounds"] else []
    kept = [f"`{c['exit']}` (pays at "
            f"{', '.join(f'{100 * t:g}' for t in c['pays_at_other_targets'])} points)"
            for c in last if c.get("pays_at_other_targets") and not c.get("dropped")
            and c["mean_ms_without"] <= c["mean_ms_with"]]
    return (" Kept only for other targets the bundle offers (removing them was no slower at "
            f"the {placement['target_loss'] * 100:g}-point target): {', '.join(kept)}."
            if kept else "")


def result_name(dataset: str, head: str = "mlp_ee", untrained_exits=()) -> str:
    """The result file's (and plot's) name: `exit_placement` for Fashion-MNIST-C (the
    study's own data) with `mlp_ee` exits, trained; else with what differs."""
    return ("exit_placement" + ("" if dataset == "fashion_mnist_c" else f"_{dataset}")
            + ("" if head == "mlp_ee" else f"_{head}")
            + ("_untrained_" + "_".join(map(str, untrained_exits)) if untrained_exits else ""))


def _plot_name(result) -> str:
    return result_name(result["dataset"], result.get("head", "mlp_ee"),
                       result.get("untrained_exits", ())) + ".png"


def _change(row, arm, measure) -> str:
    """"-1.2% ± 0.4" for mean latency, "+0.10 ± 0.30 pts" for the late share."""
    change = row[f"{arm} vs full"][measure]
    if measure == "mean_ms_change":
        return f"{100 * change['mean']:+.1f}% ± {100 * change['half_width']:.1f}"
    return f"{100 * change['mean']:+.2f} ± {100 * change['half_width']:.2f} pts"


def _yes(value) -> str:
    return "yes" if value else "**no**"
