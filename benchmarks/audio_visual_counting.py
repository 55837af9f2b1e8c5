"""Audio-visual counting exits: per-exit MAE with and without audio, the saving from
skipping the audio branch, copycat vs plain.

SYNTHETIC COMPOSITION: 64x64 canvases of 0..9 real Fashion-MNIST items at
random, possibly overlapping positions (`counting_canvas`, placement
"random"), each paired with a 1.04 s sound of as many overlapping spoken
digits (`audio_visual_counting`; the espeak-ng digits of
`mexit_tf.data.spoken_digits`, themselves SYNTHETIC, voices held out per
split). Target: the number of items.

One `AudioVisualModel`: the visual ViT of the counting study (XS width, 6
blocks, 8x8 patches), a small audio ViT on the log-mel spectrogram (2 blocks,
width 64), a visual `sl_vit` exit and an audio-visual `sl_vit` exit (the
audio token joins its sequence) after every block, an audio-visual final exit.
Trained end to end, plain and copycat (`_exit_training`). From the
end-to-end model three bundles share its weights, each with the agreement
policy calibrated on validation for the same allowed MAE increase:
visual exits only (the audio branch runs with the final exit), audio-visual
exits only (it runs in stage 0), and both (visual and audio-visual exit
after every block, so the policy picks depth and whether to listen).

    python benchmarks/audio_visual_counting.py
    python benchmarks/audio_visual_counting.py --smoke
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
from audio_exits import NUM_SAMPLES, SAMPLE_RATE, load_data  # noqa: E402
from mexit_tf.converters.bundle_export import export_bundle  # noqa: E402

import mexit_tf  # noqa: E402
from mexit_tf.data.audio_visual_counting import audio_visual_counting_splits  # noqa: E402
from mexit_tf.layers.log_mel_spectrogram import LogMelSpectrogram  # noqa: E402
from mexit_tf.runtime.cascade import Cascade  # noqa: E402

VARIANTS = ("visual_exits", "audio_visual_exits", "both")


def build_model(smoke: bool, exits: bool = True) -> mexit_tf.AudioVisualModel:
    # No peak normalisation: how loud the mix is says how many voices it holds.
    frontend = LogMelSpectrogram(NUM_SAMPLES, SAMPLE_RATE, frame_length=256, frame_step=128,
                                 num_mel_bins=40, peak_normalize=False)
    if smoke:
        visual = mexit_tf.ViTBackbone((64, 64, 1), 16, 16, 2, 2, 32)
        audio = mexit_tf.ViTBackbone(frontend=frontend, patch_size=(8, 8), hidden_dim=16,
                                     num_layers=1, num_heads=2, mlp_dim=32,
                                     layer_prefix="audio_")
    else:
        visual = mexit_tf.ViTBackbone.from_preset("XS/4", image_shape=(64, 64, 1),
                                                  patch_size=8)
        audio = mexit_tf.ViTBackbone(frontend=frontend, patch_size=(8, 8), hidden_dim=64,
                                     num_layers=2, num_heads=2, mlp_dim=128,
                                     layer_prefix="audio_")
    heads = {block: "sl_vit" for block in range(1, visual.num_layers)} if exits else {}
    return mexit_tf.AudioVisualModel(visual, audio, exits=heads, audio_exits=dict(heads),
                                     num_outputs=1)


def cascade_variant(model, variant: str) -> mexit_tf.AudioVisualModel:
    """The exits of `variant`, as a model sharing `model`'s layers and weights."""
    heads = dict(zip(zip(model.exit_blocks, model.exit_uses_audio[:-1], strict=True),
                     model.exit_heads, strict=True))
    pick = {"visual_exits": (True, False), "audio_visual_exits": (False, True),
            "both": (True, True)}[variant]
    return mexit_tf.AudioVisualModel(
        model.backbone, model.audio_backbone,
        exits={b: h for (b, audio), h in heads.items() if not audio and pick[0]},
        audio_exits={b: h for (b, audio), h in heads.items() if audio and pick[1]},
        num_outputs=model.num_outputs, final_head=model.final_head,
        audio_token=model.audio_token)


def audio_share(manifest: dict, histogram: dict) -> float:
    """Fraction of inputs that reached the stage running the audio branch."""
    names = [stage["exit"] for stage in manifest["stages"]]
    first = next(i for i, stage in enumerate(manifest["stages"]) if stage["runs_audio_branch"])
    return round(float(sum(histogram[name] for name in names[first:])), 4)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--digits", default="runs/spoken_digits", help="spoken-digit folder; "
                        "synthesized there if missing")
    counting_arguments(parser, train=6000, epochs=6, copycat_epochs=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        clips = load_data(scratch / "digits" if args.smoke else Path(args.digits), args.smoke)
        voices = tuple(clips[split][0] for split in ("train", "validation", "test"))
        items, sizes, epochs, head_epochs = counting_items(args, (32, 16, 16))
        data = audio_visual_counting_splits(items, voices, *sizes, seed=SEED)
        models, seconds = train_three_ways(
            lambda exits: build_model(args.smoke, exits), data.x_train, data.y_train, epochs,
            head_epochs, args.smoke, None if args.smoke else Path(args.work),
            f"av_counting_{args.train}")
        splits = {"validation": (data.x_val, data.y_val), "test": (data.x_test, data.y_test)}
        mae = {split: {regime: per_exit_scores(model, *xy) for regime, model in models.items()}
               for split, xy in splits.items()}

        bundles = {}
        for variant in VARIANTS:
            folder = scratch / variant
            manifest = export_bundle(cascade_variant(models["end_to_end"], variant), folder,
                                     splits["validation"], target_loss=args.target_mae,
                                     progress=False, latency_runs=20 if args.smoke else 200,
                                     source=data.source)
            report = Cascade(folder).evaluate(*splits["test"], progress=False)
            bundles[variant] = {
                "policy": manifest["policy"],
                "stage_ms": {s["exit"]: s["cost"]["latency_ms"] for s in manifest["stages"]},
                "audio_branch_stage": next(s["exit"] for s in manifest["stages"]
                                           if s["runs_audio_branch"]),
                "paid_for_audio": audio_share(manifest, report["exit_histogram"]),
                **{key: report[key] for key in (
                    "policy_mae", "exit_histogram", "mean_latency_ms", "all_stages_latency_ms",
                    "speedup_vs_all_stages")}}
    result = {
        "data": data.source, "pairs": dict(zip(("train", "validation", "test"), sizes,
                                               strict=True)),
        "audio": {"sample_rate": SAMPLE_RATE, "num_samples": NUM_SAMPLES,
                  "spectrogram": list(models["end_to_end"].audio_backbone.image_shape)},
        "epochs": epochs, "head_epochs": head_epochs, "recipe": RECIPE, "fit_seconds": seconds,
        "mae": mae, "target_mae_increase": args.target_mae, "bundles": bundles,
    }
    if not args.smoke:
        save_result("audio_visual_counting", result,
                    f"python benchmarks/audio_visual_counting.py --train {args.train} --epochs "
                    f"{epochs} --copycat-epochs {head_epochs}", SEED, note=args.note)
    print({key: result[key] for key in ("mae", "bundles")})
    return result


if __name__ == "__main__":
    main()
