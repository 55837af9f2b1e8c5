"""Calibrating a bundle's policy on its own stages: LiteRT and NumPy only, so `mexit
calibrate` runs on the runtime install, where a bundle made elsewhere is tuned to the data
it meets."""

from pathlib import Path

from mexit_tf.atomic_files import write_json_atomic
from mexit_tf.errors import MexitError
from mexit_tf.gating.calibration import calibrate_policy
from mexit_tf.gating.exit_policy import ExitPolicy
from mexit_tf.runtime.cascade import Cascade
from mexit_tf.runtime.manifest import MANIFEST_NAME, validate_manifest


def default_policy(manifest: dict) -> str:
    """`confidence` for classifiers; for regression, `std` when exits predict their
    variance, else `agreement` of consecutive exits."""
    if manifest.get("task") != "regression":
        return "confidence"
    return "std" if manifest.get("output") == "mean_log_variance" else "agreement"


def calibrate_bundle(bundle, x_cal, y_cal, policy: str | None = None,
                     target_loss: float | None = 0.005, budget_ms: float | None = None,
                     progress: bool = True, manifest: dict | None = None,
                     sigmas: float = 1.0, starts=()) -> dict:
    """Calibrates the bundle's policy on its own stages' outputs; rewrites the manifest.

    `policy=None` takes `default_policy(manifest)`. `target_loss` is a fraction
    of accuracy for classifiers, an MAE increase in target units for
    regression. `sigmas`: standard errors of margin kept below the target
    (`calibrate_policy`). `starts`: policy dicts to search from too (those of another
    policy type are left out).
    """
    cascade = Cascade(bundle)
    manifest = manifest or cascade.manifest
    policy = policy or default_policy(manifest)
    task = manifest.get("task", "classification")
    outputs, _ = cascade.run_all(x_cal, progress=progress)
    costs = [stage["cost"]["latency_ms"] for stage in manifest["stages"]]
    chosen, report = calibrate_policy(policy, outputs, y_cal, costs,
                                      target_loss=None if budget_ms else target_loss,
                                      budget=budget_ms, sigmas=sigmas, task=task,
                                      starts=tuple(ExitPolicy.from_dict(start) for start in starts
                                                   if start.get("type") == policy))
    report["cost_unit"] = "ms (median LiteRT latency, 1 thread, export machine)"
    # The app's target picker offers accuracy-loss points (classifiers only, for now).
    report["operating_points"] = (_operating_points(policy, outputs, y_cal, costs, sigmas)
                                  if task == "classification" else [])
    manifest["policy"] = chosen.to_dict()
    manifest["calibration"] = report
    validate_manifest(manifest)
    write_json_atomic(Path(bundle) / MANIFEST_NAME, manifest)
    return manifest


OPERATING_POINTS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)  # accuracy-loss targets, in points


def _operating_points(policy, outputs, labels, costs, sigmas) -> list[dict]:
    """The same policy calibrated for several targets: what the app's target picker offers."""
    points, fastest = [], None
    for loss in OPERATING_POINTS:
        try:
            chosen, report = calibrate_policy(policy, outputs, labels, costs,
                                              target_loss=loss / 100, sigmas=sigmas)
        except MexitError:  # no threshold meets this target on the calibration data
            continue
        # A policy that met a stricter target meets this one too; the threshold
        # search is greedy, so keep the faster of the two and the points monotone.
        if fastest is not None and fastest[1]["expected_speedup"] > report["expected_speedup"]:
            chosen, report = fastest
        fastest = (chosen, report)
        points.append({"label": f"at most {loss:g} points below the final exit",
                       "target_loss_points": loss, "policy": chosen.to_dict(),
                       "expected_accuracy": report["expected_accuracy"],
                       "expected_mean_cost": report["expected_mean_cost"],
                       "expected_speedup": report["expected_speedup"]})
    return points
