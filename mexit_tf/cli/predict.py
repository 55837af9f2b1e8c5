"""`mexit predict`: classify image files (or WAV clips) with a bundle, stopping early where it can.

Files and folders (searched recursively, in name order) are answered in batches:
stage 0 runs on a batch, each later stage only on the rows not answered yet. One
line per file, in order; unreadable files are named on stderr and the others
answered. Images of another size are resized, and colour is converted to the
bundle's channel count; WAV clips of an audio bundle at another sample rate are
resampled; each such change is reported on stderr. With --deadline-ms every file
is answered alone (batch 1), within that time.

Examples:
    mexit predict bundles/fmnist shirt.png boot.jpg
    mexit predict bundles/fmnist photos/ --batch-size 64
    mexit predict bundles/fmnist shirt.png --json
    mexit predict bundles/digits seven.wav
    mexit predict bundles/fmnist shirt.png --deadline-ms 5
"""

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from mexit_tf.cli.arguments import positive_float, positive_int
from mexit_tf.errors import MexitError

# Batches of 32 rows, from benchmarks/throughput.py on the quickstart bundle: a stage's
# time per row is lowest at 4-32 rows and grows beyond (0.164 ms at 4, 0.168 at 32, 0.228
# at 256: the activations outgrow the L2, 1 MiB per core), while on two threads throughput
# still rises to 128 rows (4,294 images/s at 32, 4,720 at 128); 32 is within 10% of the
# best on 1 and 2 threads.
DEFAULT_BATCH_SIZE = 32


def add_parser(commands):
    parser = commands.add_parser("predict", help="classify PNG/JPEG files (WAV for audio "
                                 "bundles) with a bundle",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle folder (from mexit export)")
    parser.add_argument("images", nargs="+", metavar="PATH", help="images (WAV clips for an "
                        "audio bundle), or folders of them, searched recursively")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                        metavar="N", help=f"files answered together (default "
                        f"{DEFAULT_BATCH_SIZE}; 1 runs them one by one)")
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="LiteRT CPU threads per stage (default: every core for batches, "
                        "1 for files answered one by one)")
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


def input_files(paths, suffixes) -> list[str]:
    """The files named, and the files under the folders named (recursively, in name
    order, by suffix; links are not followed into other folders), in the order given."""
    files = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = []
        for folder, subfolders, names in os.walk(path):
            subfolders.sort()
            found += [os.path.join(folder, name) for name in sorted(names)
                      if Path(name).suffix.lower() in suffixes]
        if not found:
            raise MexitError(f"{path}: a folder with no {'/'.join(suffixes)} files in it.")
        files += found
    return files


def run(args) -> int:
    from mexit_tf.data.image_file import IMAGE_SUFFIXES
    from mexit_tf.runtime.cascade import Cascade

    cascade = Cascade(args.bundle, num_threads=args.threads or 1)
    spec = cascade.manifest["input"]
    if spec.get("kind") == "audiovisual":
        raise MexitError(f"{args.bundle} takes image/audio pairs; mexit predict reads one file "
                         "per input. Use mexit_tf.runtime.cascade.Cascade(bundle).predict("
                         "{'image': ..., 'waveform': ...}) from Python.")
    audio = spec.get("kind") == "audio"
    files = input_files(args.images, (".wav",) if audio else IMAGE_SUFFIXES)
    batch_size = 1 if args.deadline_ms else min(args.batch_size, max(len(files), 1))
    batched = None
    if batch_size > 1:  # load and check the batched stages before the first batch's clock
        from mexit_tf.runtime.batched_cascade import BatchedCascade

        batched = BatchedCascade(cascade, num_threads=args.threads or os.cpu_count() or 1)
        batched.prepare(batch_size)
    results, failed = [], 0
    for start in range(0, len(files), batch_size):
        examples, paths = [], []
        for path in files[start:start + batch_size]:
            try:
                examples.append(read_clip(path, spec) if audio else
                                read_image(path, cascade.input_shape))
                paths.append(path)
            except (MexitError, OSError) as error:
                # One bad file among many: name it, answer the others, exit non-zero.
                failed += 1
                message = str(error) if isinstance(error, MexitError) else (
                    f"{path}: {error.strerror or error}")
                print(f"mexit predict: error: {message}", file=sys.stderr)
        if not examples:
            continue
        answers = (batched.predict_batch(examples, batch_size=batch_size) if batched else
                   [cascade.predict(examples[0], deadline_ms=args.deadline_ms)])
        for path, result in zip(paths, answers, strict=True):
            results.append({"clip" if audio else "image": path, **result.to_dict()})
            if not args.json:
                print(f"{path}: {_answer_line(result, args.deadline_ms, len(examples))}")
    if args.json:
        for row in results:
            output = row.pop("output")
            if row["label"] is None:  # a regression bundle answers a value
                row["value"] = output[0]
        print(json.dumps(results, indent=2))
    if failed:
        print(f"mexit predict: {failed} of {len(files)} file(s) could not be read",
              file=sys.stderr)
        return 2
    return 0


def _answer_line(result, deadline_ms, rows) -> str:
    if deadline_ms:
        timing = (f"{result.elapsed_ms:.3f} ms of {deadline_ms:g}"
                  f"{'' if result.deadline_met else ' (late)'}, stopped by {result.stopped_by}")
    else:  # in a batch, each stage's time is shared by the rows it ran on
        timing = f"{result.latency_ms:.3f} ms" + (f" (its share of a batch of {rows})"
                                                  if rows > 1 else "")
    answer = (f"{result.label} ({result.confidence:.3f})" if result.label is not None
              else f"value {float(result.output[0]):.4g}")  # a regression bundle
    return f"{answer} at {result.exit_name}, {timing}"
