"""`mexit calibrate`: re-choose a bundle's policy on held-out data (validation split).

The recalibrated bundle is written to --out (stage files copied, new manifest), or,
with --in-place, the bundle's manifest is replaced atomically.

Examples:
    mexit calibrate bundles/fmnist --target-loss 1.0 --out bundles/fmnist-1pt
    mexit calibrate bundles/fmnist --policy entropy --budget-ms 0.5 --in-place
"""

import argparse
import json
import shutil
from pathlib import Path

from mexit_tf.cli.data_option import DATA_HELP, load_split, resolve_data
from mexit_tf.cli.shared import add_policy_options, print_calibration, target_fraction
from mexit_tf.errors import MexitError


def add_parser(commands):
    parser = commands.add_parser("calibrate", help="recalibrate a bundle's gating policy",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle folder (from mexit export)")
    parser.add_argument("--data", help=DATA_HELP)
    add_policy_options(parser)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", help="write the recalibrated bundle to this new folder")
    where.add_argument("--in-place", action="store_true",
                       help="replace the bundle's own manifest (atomically)")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --out: replace an existing bundle there")
    parser.add_argument("--json", action="store_true",
                        help="print the calibration report as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.atomic_files import write_directory_atomic, write_json_atomic
    from mexit_tf.runtime.bundle_calibration import calibrate_bundle
    from mexit_tf.runtime.bundle_folder import check_replaceable_bundle
    from mexit_tf.runtime.manifest import MANIFEST_NAME, read_manifest

    target = target_fraction(args)
    if not args.out and not args.in_place:
        raise MexitError(f"Pass --out NEW_BUNDLE for a recalibrated copy, or --in-place to "
                         f"replace the policy of {args.bundle}.")
    manifest = read_manifest(args.bundle)
    if args.out:
        if Path(args.out).resolve() == Path(args.bundle).resolve():
            raise MexitError(f"--out is the bundle itself ({args.out}); use --in-place.")
        check_replaceable_bundle(args.out, args.overwrite)
    record = manifest.get("data")
    spec = resolve_data(args.data, record, "calibrate")
    x, y, _, source = load_split(spec, "validation", manifest["input"], manifest["labels"],
                                 record=record, command="calibrate")
    manifest["data_source"] = source

    def calibrate(folder):
        return calibrate_bundle(folder, x, y, args.policy, target, args.budget_ms,
                                manifest=manifest, sigmas=args.sigmas)

    if args.in_place:
        manifest = calibrate(args.bundle)
    else:
        def write(staging):
            for stage in manifest["stages"]:
                shutil.copy2(Path(args.bundle) / stage["file"], staging / stage["file"])
            write_json_atomic(staging / MANIFEST_NAME, manifest)
            return calibrate(staging)

        manifest = write_directory_atomic(args.out, write)
    if args.json:
        print(json.dumps({"bundle": args.out or args.bundle, "data_source": source,
                          **manifest["calibration"]}, indent=2))
    else:
        print_calibration(manifest, "calibrate")
        print(f"data: {source}")
        print(f"wrote {Path(args.out or args.bundle) / MANIFEST_NAME}")
    return 0
