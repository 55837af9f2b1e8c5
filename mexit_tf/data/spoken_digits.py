"""Spoken digits: synthesized with espeak-ng (train/validation/test), real prompts for a check.

SYNTHETIC DATA. Every clip is espeak-ng speaking "zero" .. "nine" in one of
its English accents, voice variants, speeds and pitches. The splits hold out
whole voice variants, so the test set is voices the model never heard; the
accents, speeds and pitches are shared. It is a controlled stand-in for a
keyword-spotting set, not a substitute for recorded speech. The real check is
the ten digit prompts recorded for Asterisk (Debian `asterisk-core-sounds-en-wav`,
a human voice, 8 kHz telephone audio): ten clips, so read it as a sanity check.

    python -m mexit_tf.data.spoken_digits --out data/spoken_digits

writes `OUT/{train,validation,test}/<digit>/<accent>_<variant>_s<speed>_p<pitch>.wav`
plus `OUT/README.txt` saying how it was made.
"""

import argparse
import itertools
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mexit_tf.atomic_files import write_directory_atomic
from mexit_tf.errors import MexitError

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = {
    "train": ("m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "klatt", "klatt2", "croak",
              "Andy"),
    "validation": ("m6", "f5", "klatt3"),
    "test": ("m7", "f4", "klatt4"),
}
SPEEDS = (130, 175, 220)  # words per minute
PITCHES = (30, 55, 80)    # espeak-ng's 0..99 scale
ASTERISK_DIGITS = Path("/usr/share/asterisk/sounds/en/digits")


def _espeak():
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise MexitError("espeak-ng is not installed; on Debian/Ubuntu: "
                         "apt-get install espeak-ng.")
    return binary


def synthesize(out, speeds=SPEEDS, pitches=PITCHES, accents=ACCENTS, variants=VARIANTS,
               workers=2, progress=True) -> dict[str, int]:
    """Writes the spoken-digit set to `out` (atomically); returns clips per split."""
    binary, out = _espeak(), Path(out)
    jobs = [(split, digit, accent, variant, speed, pitch)
            for split, names in variants.items()
            for digit, accent, variant, speed, pitch in itertools.product(
                range(10), accents, names, speeds, pitches)]

    def write(staging: Path):
        def one(job):
            split, digit, accent, variant, speed, pitch = job
            path = staging / split / str(digit) / f"{accent}_{variant}_s{speed}_p{pitch}.wav"
            subprocess.run([binary, "-v", f"{accent}+{variant}", "-s", str(speed),
                            "-p", str(pitch), "-w", str(path), WORDS[digit]],
                           check=True, capture_output=True)

        for split, digit in itertools.product(variants, range(10)):
            (staging / split / str(digit)).mkdir(parents=True)
        with ThreadPoolExecutor(workers) as pool:
            list(tqdm(pool.map(one, jobs), total=len(jobs), desc="espeak-ng",
                      disable=not progress))
        (staging / "README.txt").write_text(
            "SYNTHETIC spoken digits made by mexit_tf.data.spoken_digits with espeak-ng.\n"
            f"accents: {', '.join(accents)}\nspeeds (wpm): {list(speeds)}\n"
            f"pitches: {list(pitches)}\n"
            + "".join(f"{split} variants: {', '.join(names)}\n"
                      for split, names in variants.items()))

    write_directory_atomic(out, write)
    return {split: 10 * len(accents) * len(names) * len(speeds) * len(pitches)
            for split, names in variants.items()}


def load_real_prompts(sample_rate: int, num_samples: int, root=ASTERISK_DIGITS):
    """The ten recorded Asterisk digit prompts as `(waveforms, labels)`, resampled if needed."""
    from mexit_tf.data.audio_folder import load_clip

    root = Path(root)
    files = [root / f"{digit}.wav" for digit in range(10)]
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise MexitError(f"Real digit prompts not found ({missing[0]}); on Debian/Ubuntu: "
                         "apt-get install asterisk-core-sounds-en-wav.")
    waveforms = [load_clip(path, sample_rate, num_samples)[0] for path in files]
    return np.stack(waveforms), np.arange(10, dtype="int32")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Synthesize the spoken-digit set (espeak-ng).")
    parser.add_argument("--out", required=True)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        if Path(args.out).exists() and not args.overwrite:
            raise MexitError(f"{args.out} exists; pass --overwrite to replace it.")
        counts = synthesize(args.out)
    except MexitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Wrote {sum(counts.values())} SYNTHETIC clips to {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
