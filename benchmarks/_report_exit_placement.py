"""The exit-placement study's section of docs/benchmarks.md (`report.py` style)."""

from _report_common import provenance as _provenance
from _report_common import table as _table


def exit_placement_section(result) -> list[str]:
    """Markdown lines: the rule, what each exit costs and carries, full vs pruned."""
    placement = result["placement"]
    measured = placement["measured"]
    dropped = ", ".join(f"`{d['exit']}`" for d in placement["dropped"]) or "none"
    lines = ["## Exit placement by measurement: drop the exits that do not pay", "",
             f"Data: {result['data']}. Model: XS/4 with an `mlp_ee` exit after every block, "
             f"{result['recipe']['train_images']} training images, {result['recipe']['epochs']} "
             f"epoch(s) (the studies' recipe). The full bundle's confidence policy is "
             f"calibrated on validation for a {result['export_target_points']:g}-point target; "
             "each early exit's cost is its stage and the next run in turn minus the one stage "
             "that runs the same blocks without it (head compute + stage boundary; "
             f"{measured['engine']}, side by side in shuffled order, medians of "
             f"{measured['runs']} runs). Rule: {placement['rule']} "
             f"(min_share {placement['min_share']}).", "",
             "![exit placement](exit_placement.png)", "",
             f"Dropped: {dropped}; kept: {', '.join(f'`{n}`' for n in placement['kept'])}.", ""]
    if not placement["dropped"]:
        # Then "pruned" is the full bundle exported again: an A/A comparison, whose
        # differences are the harness's own.
        ratios = [row["pruned"]["mean_ms"] / row["full"]["mean_ms"] for row in result["targets"]
                  if "pruned" in row and "full" in row]
        lines += [f"Nothing was dropped, so *pruned* below is the full bundle exported a second "
                  f"time: the two columns differ only by the measurement (an A/A comparison). "
                  f"Its mean latency came out {min(ratios):.3f}-{max(ratios):.3f} of the "
                  "full one's at the targets, all on one side: a bias of the harness this large "
                  "must be found and removed before a pruned bundle's gain can be read from "
                  "it.", ""]
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
    lines += ["", f"Full vs pruned on {result['examples']} test examples, each bundle's policy "
              "calibrated on validation per target; latency measured per call (every candidate "
              "its own load, order shuffled per example):", ""]
    lines += _table(["target (pts)", "full accuracy", "pruned accuracy", "full mean ms",
                     "pruned mean ms", "pruned / full"],
                    [(r["target_points"], r["full"]["accuracy"], r["pruned"]["accuracy"],
                      r["full"]["mean_ms"], r["pruned"]["mean_ms"],
                      f"{r['pruned']['mean_ms'] / r['full']['mean_ms']:.3f}")
                     for r in result["targets"] if "full" in r and "pruned" in r])
    lines += ["", "Deadlines (`predict(x, deadline_ms=D)` with each bundle's policy at the "
              "export target):", ""]
    lines += _table(["deadline ms", "full late", "pruned late", "full accuracy",
                     "pruned accuracy", "full mean ms", "pruned mean ms"],
                    [(r["deadline_ms"], r["full"]["late_share"], r["pruned"]["late_share"],
                      r["full"]["accuracy"], r["pruned"]["accuracy"], r["full"]["mean_ms"],
                      r["pruned"]["mean_ms"]) for r in result["deadlines"]])
    verdict = result["verdict"]
    lines += ["", f"No slower at every target: {_yes(verdict['no_slower_at_every_target'])}; "
              f"no more often late at every deadline: "
              f"{_yes(verdict['no_more_late_at_every_deadline'])}.", ""]
    return lines + [_provenance(result), ""]


def _yes(value) -> str:
    return "yes" if value else "**no**"
