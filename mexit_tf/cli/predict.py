"""`mexit predict`: classify image files (or WAV clips) with a bundle, stopping early where it can.

Images of another size are resized, and colour is converted to the bundle's
channel count; WAV clips of an audio bundle at another sample rate are
resampled; each such change is reported on stderr.

Examples:
    mexit predict bundles/fmnist shirt.png boot.jpg
    mexit predict bundles/fmnist shirt.png --json
    mexit predict bundles/digits seven.wav
    mexit predict bundles/fmnist shirt.png --deadline-ms 5
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mexit_tf.cli.arguments import positive_float
from mexit_tf.errors import MexitError


def add_parser(commands):
    parser = commands.add_parser("predict", help="classify PNG/JPEG files (WAV for audio "
                                 "bundles) with a bundle",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle folder (from mexit export)")
    parser.add_argument("images", nargs="+", metavar="FILE", help="images, or WAV clips for "
                        "an audio bundle")
    parser.add_argument("--deadline-ms", type=positive_float, metavar="D",
                        help="answer each file within D ms: the deepest exit that fits")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


def read_image(path, shape) -> np.ndarray:
    """Reads an image file as raw pixels of `shape` (H, W, C); each change (resized,
    converted, 16-bit scaled) is said on stderr."""
    from mexit_tf.data.image_file import read_image_file

    if not Path(path).is_file():
        raise MexitError(f"{path}: no such file.")
    pixels, changes = read_image_file(path, tuple(shape[:2]), shape[-1])
    for change in changes:
        print(f"mexit predict: {path}: {change}", file=sys.stderr)
    return pixels.reshape(shape)


def read_clip(path, spec: dict) -> np.ndarray:
    """Reads a mono WAV clip as the bundle's samples: resampled, centred, cut or padded."""
    from mexit_tf.data.audio_folder import load_clip

    clip, rate = load_clip(path, spec["sample_rate"], spec["shape"][1])
    if rate != spec["sample_rate"]:
        print(f"mexit predict: {path}: resampled {rate} Hz to {spec['sample_rate']} Hz",
              file=sys.stderr)
    return clip


def run(args) -> int:
    from mexit_tf.runtime.cascade import Cascade

    cascade = Cascade(args.bundle)
    spec = cascade.manifest["input"]
    if spec.get("kind") == "audiovisual":
        raise MexitError(f"{args.bundle} takes image/audio pairs; mexit predict reads one file "
                         "per input. Use mexit_tf.runtime.cascade.Cascade(bundle).predict("
                         "{'image': ..., 'waveform': ...}) from Python.")
    audio = spec.get("kind") == "audio"
    results, failed = [], 0
    for path in args.images:
        try:
            x = read_clip(path, spec) if audio else read_image(path, cascade.input_shape)
        except (MexitError, OSError) as error:
            # One bad file among many: name it, answer the others, exit non-zero.
            failed += 1
            message = str(error) if isinstance(error, MexitError) else (
                f"{path}: {error.strerror or error}")
            print(f"mexit predict: error: {message}", file=sys.stderr)
            continue
        result = cascade.predict(x, deadline_ms=args.deadline_ms)
        results.append({"clip" if audio else "image": path, **result.to_dict()})
        if not args.json:
            timing = (f"{result.elapsed_ms:.3f} ms of {args.deadline_ms:g}"
                      f"{'' if result.deadline_met else ' (late)'}, stopped by "
                      f"{result.stopped_by}" if args.deadline_ms else
                      f"{result.latency_ms:.3f} ms")
            answer = (f"{result.label} ({result.confidence:.3f})" if result.label is not None
                      else f"value {float(result.output[0]):.4g}")  # a regression bundle
            print(f"{path}: {answer} at {result.exit_name}, {timing}")
    if args.json:
        for row in results:
            output = row.pop("output")
            if row["label"] is None:  # a regression bundle answers a value
                row["value"] = output[0]
        print(json.dumps(results, indent=2))
    if failed:
        print(f"mexit predict: {failed} of {len(args.images)} file(s) could not be read",
              file=sys.stderr)
        return 2
    return 0
