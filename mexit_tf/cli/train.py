"""`mexit train`: train a multi-exit ViT from a preset.

Examples:
    mexit train --preset fashion_mnist_cpu --out runs/fmnist
    mexit train --preset fashion_mnist_cpu --set epochs=2 --set "exits={3: 'sl_vit'}" --out r
    mexit train --preset fashion_mnist_cpu --regime copycat --out runs/copycat
    mexit train --preset fashion_mnist_cpu --smoke --out /tmp/smoke
"""

import json

from mexit_tf.cli.settings import apply_overrides


def add_parser(commands):
    parser = commands.add_parser("train", help="train a multi-exit model from a preset",
                                 description=__doc__, formatter_class=_raw())
    parser.add_argument("--preset", required=True, help="preset name, e.g. fashion_mnist_cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a preset setting (repeatable)")
    parser.add_argument("--regime", help="end_to_end, classifier_wise, layer_wise or copycat")
    parser.add_argument("--smoke", action="store_true", help="shrink to a CI-sized run")
    parser.add_argument("--out", required=True, help="output folder (model.keras, metrics.json)")
    parser.set_defaults(run=run)


def _raw():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def run(args) -> int:
    from mexit_tf.configs import get_preset

    config = get_preset(args.preset, smoke=args.smoke)
    config = apply_overrides(config, args.set)
    if args.regime:
        config["regime"] = args.regime
    from mexit_tf.training.regimes import check_regime

    check_regime(config["regime"])
    from mexit_tf.training.trainer import train_from_config

    metrics = train_from_config(config, args.out)
    print(json.dumps({"validation": metrics["validation"], "test": metrics["test"],
                      "train_seconds": metrics["train_seconds"]}, indent=2))
    print(f"wrote {args.out}/model.keras and {args.out}/metrics.json")
    return 0
