"""Exit placement by measurement: keep the exits the calibrated policy uses and that pay."""

import tempfile
from pathlib import Path

from mexit_tf.converters.bundle_export import _int8_source, export_bundle
from mexit_tf.converters.exit_costs import measure_exit_costs

from mexit_tf.gating.exit_selection import select_exits
from mexit_tf.models.multi_exit_model import FINAL_EXIT
from mexit_tf.runtime.bundle_calibration import OPERATING_POINTS, default_policy
from mexit_tf.runtime.cascade import Cascade


def place_exits(model, calibration_data, policy=None, target_loss=0.005, budget_ms=None,
                sigmas=1.0, quantize="float32", ptq=False, min_share=0.0, runs=200,
                latency_runs=50, progress=False, bundle=None, keep_first=True) -> dict:
    """Exports `model` with all its exits (in a temporary folder), calibrates its policy on
    `calibration_data` (validation), measures each exit's head + boundary cost
    (`measure_exit_costs`) and drops the exits that do not pay (`select_exits`).

    Returns the manifest's `exit_placement` record: `kept` and `dropped` exit
    names, each dropped exit's measured share and cost, the rounds, the rule.
    `bundle`: the full bundle, when it is exported already (with the same
    policy options), instead of a temporary one.

    Example:
    >>> record = place_exits(model, (x_val, y_val))
    >>> export_bundle(keep_exits(model, record["kept"]), "b", (x_val, y_val),
    ...               exit_placement=record)
    """
    x_cal, y_cal = calibration_data
    with tempfile.TemporaryDirectory(prefix="mexit-placement-") as folder:
        full = Path(bundle or Path(folder) / "full")
        if bundle is None:
            export_bundle(model, full, calibration_data, quantize=quantize, policy=policy,
                          target_loss=target_loss, budget_ms=budget_ms, ptq=ptq, sigmas=sigmas,
                          latency_runs=latency_runs, progress=progress)
        with Cascade(full) as cascade:
            manifest = cascade.manifest
            outputs, _ = cascade.run_all(x_cal, progress=progress)
        source = _int8_source(model, manifest["quantization"], ptq)[0]
        costs = measure_exit_costs(source, full, x_cal[0], runs)
    policy = policy or default_policy(manifest)
    task = manifest.get("task", "classification")
    # A classifier's bundle offers its app several targets (the manifest's operating
    # points): an exit that pays at any of them stays.
    offered = tuple(points / 100 for points in OPERATING_POINTS) \
        if task == "classification" and budget_ms is None else ()
    kept, record = select_exits(outputs, y_cal, costs["stage_ms"], costs["head_ms"], policy,
                                target_loss, budget_ms, sigmas, min_share, task, keep_first,
                                also_targets=offered)
    names = model.exit_names
    rounds = [[{"exit": names[c["exit_index"]],
                **{key: value for key, value in c.items() if key != "exit_index"}}
               for c in round_] for round_ in record["rounds"]]
    dropped = [{**{key: value for key, value in c.items() if key != "dropped"},
                "after_block": model.exit_blocks[names.index(c["exit"])]}
               for round_ in rounds for c in round_ if c.get("dropped")]
    return {"chosen_by": "policy", "policy": policy,
            "target_loss": None if budget_ms else target_loss, "budget_ms": budget_ms,
            "full_exits": list(names), "kept": [names[k] for k in kept], "dropped": dropped,
            **{key: record[key] for key in ("rule", "min_share", "full", "pruned",
                                            "other_targets")},
            "rounds": rounds,
            "measured": costs}


def listed_placement(model, kept) -> dict:
    """The `exit_placement` record of exits the user listed (`--exits`)."""
    return {"chosen_by": "list", "full_exits": list(model.exit_names),
            "kept": [name for name in model.exit_names if name in kept or name == FINAL_EXIT],
            "dropped": [{"exit": name, "after_block": block, "reason": "not listed in --exits"}
                        for name, block in zip(model.exit_names[:-1], model.exit_blocks,
                                               strict=True)
                        if name not in kept]}
