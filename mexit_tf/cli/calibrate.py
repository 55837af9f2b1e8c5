"""`mexit calibrate`: re-choose a bundle's policy on held-out data (validation split).

Examples:
    mexit calibrate bundles/fmnist --target-loss 1.0
    mexit calibrate bundles/fmnist --policy entropy --budget-ms 0.5
"""

import argparse

from mexit_tf.cli.data_option import DATA_HELP, load_split
from mexit_tf.cli.export import add_policy_options, print_calibration, target_fraction


def add_parser(commands):
    parser = commands.add_parser("calibrate", help="recalibrate a bundle's gating policy",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("--data", default="fashion_mnist", help=DATA_HELP)
    add_policy_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.converters.bundle_export import calibrate_bundle
    from mexit_tf.converters.manifest import read_manifest

    target = target_fraction(args)
    manifest = read_manifest(args.bundle)
    x, y, _, _ = load_split(args.data, "validation", manifest["input"])
    manifest = calibrate_bundle(args.bundle, x, y, args.policy, target,
                                args.budget_ms, manifest=manifest, sigmas=args.sigmas)
    print_calibration(manifest)
    return 0
