"""Audio early exits on spoken digits: per-exit accuracy, copycat vs plain, the bundle.

SYNTHETIC training, validation and test data: espeak-ng speaking the ten
digits (`mexit_tf.data.spoken_digits`; test voices are held out). The real
check is Asterisk's ten recorded digit prompts (one human voice, 8 kHz).

One ViT (XS width, 6 blocks) on log-mel spectrograms (64 frames x 40 mels,
8x8 patches: an 8x5 grid) with an `sl_vit` exit after every block, three ways:

- *end to end*: backbone and every exit trained together on the labels;
- *plain*: the backbone trained alone with its final exit, frozen, then the
  exits trained on the labels (paper 2's classifier-wise baseline);
- *copycat*: the same frozen backbone, the exits trained on the final exit's
  answers (paper 2).

The end-to-end model is exported as a float32 bundle (stage 0 computes the
spectrogram), its policy calibrated on validation, and the cascade run on the
test clips and the real prompts.

    python benchmarks/audio_exits.py                # synthesizes runs/spoken_digits if missing
    python benchmarks/audio_exits.py --smoke        # 10 clips per split, tiny model
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import add_note_argument, save_result  # noqa: E402
from _exit_training import RECIPE, SEED, per_exit_scores, train_three_ways  # noqa: E402
from mexit_tf.converters.bundle_export import export_bundle  # noqa: E402

import mexit_tf  # noqa: E402
from mexit_tf.data.audio_folder import load_audio_folder  # noqa: E402
from mexit_tf.data.spoken_digits import load_real_prompts, synthesize  # noqa: E402
from mexit_tf.layers.log_mel_spectrogram import LogMelSpectrogram  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402

SAMPLE_RATE, NUM_SAMPLES = 8000, 8320  # 1.04 s: 64 frames of 256 samples, hop 128

def build_model(smoke: bool, exits: bool = True) -> mexit_tf.MultiExitModel:
    frontend = LogMelSpectrogram(NUM_SAMPLES, SAMPLE_RATE, frame_length=256, frame_step=128,
                                 num_mel_bins=40)
    if smoke:
        backbone = mexit_tf.ViTBackbone(frontend=frontend, patch_size=(8, 8), hidden_dim=16,
                                        num_layers=2, num_heads=2, mlp_dim=32)
    else:
        backbone = mexit_tf.ViTBackbone.from_preset("XS/4", frontend=frontend,
                                                    patch_size=(8, 8))
    heads = {block: "sl_vit" for block in range(1, backbone.num_layers)} if exits else {}
    return mexit_tf.MultiExitModel(backbone, exits=heads, num_outputs=10)


def load_data(folder: Path, smoke: bool):
    if not folder.exists():
        kwargs = dict(speeds=(175,), pitches=(50,), accents=("en-us",),
                      variants={"train": ("m1",), "validation": ("f2",), "test": ("m3",)}
                      ) if smoke else {}
        synthesize(folder, progress=not smoke, **kwargs)
    splits = {}
    for split in ("train", "validation", "test"):
        x, y, _, _ = load_audio_folder(folder / split, SAMPLE_RATE, NUM_SAMPLES)
        splits[split] = (x, y)
    splits["real"] = load_real_prompts(SAMPLE_RATE, NUM_SAMPLES)
    return splits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--data", default="runs/spoken_digits", help="spoken-digit folder; "
                        "synthesized there if missing")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--copycat-epochs", type=int, default=5)
    parser.add_argument("--target-loss", type=float, default=0.5, help="points, for the policy")
    parser.add_argument("--work", default="runs/study", help="cache of trained models")
    add_note_argument(parser)
    args = parser.parse_args(argv)
    epochs, head_epochs = (1, 1) if args.smoke else (args.epochs, args.copycat_epochs)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "digits" if args.smoke else Path(args.data)
        data = load_data(folder, args.smoke)
        models, seconds = train_three_ways(
            lambda exits: build_model(args.smoke, exits), *data["train"], epochs, head_epochs,
            args.smoke, None if args.smoke else Path(args.work), "audio_digits")
        end_to_end = models["end_to_end"]
        accuracy = {split: {regime: per_exit_scores(model, *data[split])
                            for regime, model in models.items()}
                    for split in ("validation", "test", "real")}

        bundle = Path(scratch) / "bundle"
        manifest = export_bundle(end_to_end, bundle, data["validation"],
                                 labels=[str(d) for d in range(10)],
                                 target_loss=args.target_loss / 100, progress=False,
                                 latency_runs=20 if args.smoke else 200,
                                 source="spoken digits, validation split (SYNTHETIC)")
        cascade = Cascade(bundle)
        cascade_report = {split: cascade.evaluate(*data[split], progress=False)
                          for split in ("test", "real")}
    result = {
        "data": {"synthetic": "espeak-ng spoken digits (SYNTHETIC), test voices held out",
                 "real": "Asterisk digit prompts (recorded, 10 clips)",
                 "clips": {split: int(len(data[split][1])) for split in data},
                 "sample_rate": SAMPLE_RATE, "num_samples": NUM_SAMPLES,
                 "spectrogram": list(end_to_end.backbone.image_shape),
                 "grid": list(end_to_end.backbone.grid_shape)},
        "epochs": epochs, "head_epochs": head_epochs, "recipe": RECIPE,
        "fit_seconds": seconds, "accuracy": accuracy,
        "stage_ms": {stage["exit"]: stage["cost"]["latency_ms"] for stage in manifest["stages"]},
        "policy": manifest["policy"], "target_loss_points": args.target_loss,
        "cascade": {split: {key: report[key] for key in (
            "policy_accuracy", "exit_accuracy", "exit_histogram", "mean_latency_ms",
            "all_stages_latency_ms", "speedup_vs_all_stages")}
            for split, report in cascade_report.items()},
    }
    command = "python benchmarks/audio_exits.py" + (" --smoke" if args.smoke else
                                                   f" --epochs {epochs} --copycat-epochs "
                                                   f"{head_epochs}")
    if not args.smoke:
        save_result("audio_exits", result, command, SEED, note=args.note)
    print(result)
    return result


if __name__ == "__main__":
    main()
