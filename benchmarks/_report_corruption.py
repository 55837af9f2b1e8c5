"""The report's section on benchmarks/results/corruption_depth.json (Fashion-MNIST-C)."""

from _report_common import provenance as _provenance
from _report_common import recipe as _recipe
from _report_common import table as _table


def corruption_depth_section(result: dict) -> list[str]:
    """Markdown lines: per-exit accuracy by severity and family, and what depth buys."""
    exits = result["exits"]
    levels = sorted(result["by_severity"][exits[-1]], key=int)
    gain = result["depth_gain"]
    counts = result["counts"]["by_severity"]
    lines = ["## Fashion-MNIST-C: does depth help more on harder inputs?", "",
             f"Data: {result['data']}; {result['corruption_mix']}. {_recipe(result)} Model: "
             "an `mlp_ee` exit after every block (the CPU preset's layout), trained on the "
             "corrupted training split. Test accuracy of each exit by severity (0 = clean; "
             f"{', '.join(f'{counts[s]}' for s in levels)} test images at severities "
             f"{', '.join(levels)}):", "", "![accuracy by severity](corruption_depth.png)", ""]
    lines += _table(["exit", "all", *[f"severity {s}" for s in levels]],
                    [(name.replace("_", " "), f"{result['overall'][name]:.4f}",
                      *[f"{result['by_severity'][name][s]:.4f}" for s in levels])
                     for name in exits])
    first, final = gain["first"].replace("_", " "), gain["final"].replace("_", " ")
    lines += ["", f"{final} minus {first}, in points: {gain['overall_points']:+.2f} overall; by "
              "severity " + ", ".join(f"{s}: {gain['by_severity_points'][s]:+.2f}"
                                      for s in levels) + ". "
              + ("The gain grows with severity (clean vs severity 5); "
                 if gain["hardest_beats_clean"] else
                 "The gain does not grow with severity (clean vs severity 5); ")
              + f"it rises at {gain['rising_steps']} steps up.", "",
              "By family (corrupted test images, severities 1-5 together):", ""]
    families = sorted(result["by_family"][exits[-1]])
    lines += _table(["exit", *[f.replace("_", " ") for f in families]],
                    [(name.replace("_", " "),
                      *[f"{result['by_family'][name][f]:.4f}" for f in families])
                     for name in exits])
    lines += ["", f"Training time: {result['fit_seconds']} s in `fit`; whole run "
              f"{result['wall_seconds']} s.", "", _provenance(result), ""]
    return lines
