"""Counting (regression) early exits: per-exit MAE, copycat vs plain, the bundle.

SYNTHETIC COMPOSITION: canvases of 0..9 real Fashion-MNIST items (64x64,
`mexit_tf.data.counting_canvas`), target = the number of items; canvases of a
split use only that split's items.

One ViT (XS width, 6 blocks, 8x8 patches: an 8x8 grid) with an `sl_vit` exit
after every block, regression output (MSE loss), trained end to end, plain
(classifier-wise) and copycat (see `_exit_training`). The end-to-end model is
exported as a float32 bundle whose regression policy (`agreement` of
consecutive exits) is calibrated on validation for an allowed MAE increase.

    python benchmarks/counting_exits.py
    python benchmarks/counting_exits.py --smoke
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import save_result  # noqa: E402
from _exit_training import (  # noqa: E402
    RECIPE,
    SEED,
    counting_arguments,
    counting_items,
    per_exit_scores,
    train_three_ways,
)
from mexit_tf.converters.bundle_export import export_bundle  # noqa: E402

import mexit_tf  # noqa: E402
from mexit_tf.data.counting_canvas import counting_splits  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402


def build_model(smoke: bool, exits: bool = True) -> mexit_tf.MultiExitModel:
    if smoke:
        backbone = mexit_tf.ViTBackbone((64, 64, 1), 16, 16, 2, 2, 32)
    else:
        backbone = mexit_tf.ViTBackbone.from_preset("XS/4", image_shape=(64, 64, 1),
                                                    patch_size=8)
    heads = {block: "sl_vit" for block in range(1, backbone.num_layers)} if exits else {}
    return mexit_tf.MultiExitModel(backbone, exits=heads, num_outputs=1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    counting_arguments(parser, train=10000, epochs=8, copycat_epochs=4)
    args = parser.parse_args(argv)
    items, sizes, epochs, head_epochs = counting_items(args, (48, 24, 24))
    data = counting_splits(items, *sizes, seed=SEED)
    models, seconds = train_three_ways(
        lambda exits: build_model(args.smoke, exits), data.x_train, data.y_train, epochs,
        head_epochs, args.smoke, None if args.smoke else Path(args.work),
        f"counting_{args.train}")
    splits = {"validation": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}
    mae = {split: {regime: per_exit_scores(model, *xy) for regime, model in models.items()}
           for split, xy in splits.items()}
    with tempfile.TemporaryDirectory() as scratch:
        manifest = export_bundle(models["end_to_end"], Path(scratch) / "bundle",
                                 splits["validation"], target_loss=args.target_mae,
                                 progress=False, latency_runs=20 if args.smoke else 200,
                                 source=data.source)
        report = Cascade(Path(scratch) / "bundle").evaluate(*splits["test"], progress=False)
    result = {
        "data": data.source, "canvases": dict(zip(("train", "validation", "test"), sizes,
                                                  strict=True)),
        "epochs": epochs, "head_epochs": head_epochs, "recipe": RECIPE, "fit_seconds": seconds,
        "mae": mae, "target_mae_increase": args.target_mae, "policy": manifest["policy"],
        "stage_ms": {stage["exit"]: stage["cost"]["latency_ms"] for stage in manifest["stages"]},
        "cascade_test": {key: report[key] for key in (
            "policy_mae", "exit_mae", "exit_histogram", "mean_latency_ms",
            "all_stages_latency_ms", "speedup_vs_all_stages")},
    }
    if not args.smoke:
        save_result("counting_exits", result, f"python benchmarks/counting_exits.py --train "
                    f"{args.train} --epochs {epochs} --copycat-epochs {head_epochs}", SEED,
                    note=args.note)
    print(result)
    return result


if __name__ == "__main__":
    main()
