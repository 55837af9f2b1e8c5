"""`mexit train`: train a multi-exit ViT on Fashion-MNIST or on your own images.

--data folder:PATH reads one sub-folder per class (PATH/cat/*.jpg, PATH/dog/*.jpg),
or PATH/train/, PATH/validation/ and PATH/test/ folders of them, used as given. A
flat folder is split per class with a seeded shuffle: 10% test, 10% validation
(at least one image each), the rest train; the counts are printed. The image
size and colour mode default to the images' own (when all images share them);
images of another size are resized and 16-bit images scaled to 8 bits, and each
such change is said. The run records its data source, so export, calibrate and
eval reload the same data (and the same split) without --data.

Examples:
    mexit train --out runs/fmnist                          # Fashion-MNIST, XS/4 ViT
    mexit train --data fashion_mnist_c --out runs/fmnist_c # with graded corruptions
    mexit train --data folder:photos --image-size 64,64 --out runs/photos
    mexit train --data folder:photos --vit Ti/16 --image-size 224,224 --exits 4,8 --out r
    mexit train --data folder:photos --out runs/photos --resume      # after an interruption
    mexit train --set "exits={3: 'sl_vit'}" --regime copycat --out runs/copycat
    mexit train --smoke --out /tmp/smoke                     # a CI-sized run, ~1 minute

Start from a pretrained keras-hub ViT, DeiT or DINOv2 (--from; the finetune recipe):
    mexit train --from deit_tiny_distilled_patch16_224_imagenet --data folder:photos --out r
    mexit train --from hf://facebook/dinov2-small --data folder:photos --image-size 112 --out r
    mexit train --from ./deit_tiny_preset --data folder:photos --exits 3,6,9 --out r
SOURCE is a keras-hub preset name, a handle (kaggle://, hf://), a folder written by
save_to_preset, or a .keras file of a keras-hub backbone or image classifier. The model
keeps the backbone's weights and its pixel preprocessing and gets a fresh final head for
your classes; images are resized to the pretraining size unless --image-size says
otherwise (position embeddings are then resized). Without network, save the preset to a
folder elsewhere and pass that folder.
"""

import argparse
import json
import sys

from mexit_tf.cli.arguments import exit_blocks, image_size, positive_float, positive_int
from mexit_tf.cli.settings import apply_overrides
from mexit_tf.errors import MexitError


def add_parser(commands):
    parser = commands.add_parser("train", help="train a multi-exit model (Fashion-MNIST or "
                                 "your own image folder)",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", metavar="SOURCE",
                        help="'fashion_mnist' (default), 'fashion_mnist_c' (Fashion-MNIST with "
                             "graded corruptions) or 'folder:PATH' (see above)")
    parser.add_argument("--from", dest="source", metavar="SOURCE",
                        help="start from a pretrained keras-hub ViT, DeiT or DINOv2: preset "
                             "name, kaggle:// or hf:// handle, preset folder or .keras file "
                             "(default recipe: finetune)")
    parser.add_argument("--image-size", type=image_size, metavar="H,W",
                        help="resize images to H,W (default: the images' own size; with "
                             "--from, the backbone's pretraining size)")
    parser.add_argument("--color-mode", choices=["rgb", "grayscale"],
                        help="default: grayscale when every image is greyscale, else rgb")
    parser.add_argument("--vit", metavar="SIZE",
                        help="ViT size VARIANT/PATCH: XS/4 (default), Ti/16, S/16, B/16, ...")
    parser.add_argument("--exits", type=exit_blocks, metavar="BLOCKS",
                        help="early exits after these blocks: '2,4' (mlp_ee heads) or "
                             "'2:sl_vit,4:mlp_ee' (default: after every block)")
    parser.add_argument("--epochs", type=positive_int,
                        help="training epochs (preset: 7; finetune: 15, after head_epochs 5 "
                             "with the backbone frozen)")
    parser.add_argument("--batch-size", type=positive_int, help="batch size (preset: 128)")
    parser.add_argument("--lr", type=positive_float,
                        help="peak learning rate (preset: 2e-3; finetune: 5e-4, after "
                             "head_learning_rate 1e-3 for the heads alone)")
    parser.add_argument("--regime",
                        help="end_to_end (default), classifier_wise, layer_wise, "
                             "copycat or finetune (default with --from)")
    parser.add_argument("--preset",
                        help="settings to start from (default fashion_mnist_cpu; finetune "
                             "with --from)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any preset setting, e.g. --set weight_decay=0.1 "
                             "(repeatable)")
    parser.add_argument("--smoke", action="store_true",
                        help="shrink to a CI-sized run (2 blocks, 512 images, 1 epoch)")
    parser.add_argument("--out", required=True,
                        help="run folder to create (model.keras, metrics.json)")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (only a run that mexit wrote)")
    again.add_argument("--resume", action="store_true",
                       help="continue the interrupted run in --out")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(run=run)


_FLAGS = {"data": "dataset", "image_size": "image_size", "color_mode": "color_mode",
          "vit": "vit", "exits": "exits", "epochs": "epochs", "batch_size": "batch_size",
          "lr": "learning_rate", "regime": "regime"}


def build_config(args) -> dict:
    """The preset, then --set, then the named flags; checked before any data is read."""
    from mexit_tf.configs import get_preset
    from mexit_tf.configs.config_check import check_config

    preset = args.preset or ("finetune" if args.source else "fashion_mnist_cpu")
    config = get_preset(preset, smoke=args.smoke)
    if args.source:
        config["pretrained"] = args.source
    config = apply_overrides(config, args.set)
    for flag, key in _FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            config[key] = value
    if config.get("pretrained") and not str(config["dataset"]).startswith("folder:"):
        raise MexitError("--from fine-tunes on your own images: pass --data folder:PATH (one "
                         "sub-folder of images per class).")
    if str(config["dataset"]).startswith("folder:") and not config.get("pretrained"):
        # The preset's 28x28 greyscale is Fashion-MNIST's, not the folder's: take the
        # images' own unless the user said otherwise.
        said = {assignment.partition("=")[0] for assignment in args.set}
        for flag, key in (("image_size", "image_size"), ("color_mode", "color_mode")):
            if getattr(args, flag) is None and key not in said:
                config[key] = None
    from mexit_tf.training.regimes import check_regime

    check_regime(config["regime"])
    return check_config(config)


def run(args) -> int:
    from mexit_tf.configs.config_check import check_image_size
    from mexit_tf.models.multi_exit_model import check_exits
    from mexit_tf.models.vit_presets import decode_variant
    from mexit_tf.training.run_folder import prepare_run_folder

    config = build_config(args)
    pretrained = None
    if config.get("pretrained"):
        # Loaded before any data is read, so a bad --from fails in seconds.
        pretrained = _load_pretrained(config)
        patch_size = pretrained[0].patch_size
        num_layers = pretrained[0].num_layers
    else:
        variant = {**decode_variant(config["vit"]), **config.get("backbone", {})}
        patch_size, num_layers = variant["patch_size"], variant["num_layers"]
    check_exits(config["exits"], num_layers)
    if config.get("image_size"):
        check_image_size(config["image_size"], patch_size)
    mode = prepare_run_folder(args.out, args.overwrite, args.resume)
    from mexit_tf.training.trainer import load_dataset, train_from_config

    def progress(done, total):
        print(f"mexit train: decoded {done}/{total} images", file=sys.stderr, flush=True)

    data = load_dataset(config, progress=progress)
    for note in data.notes:
        print(f"mexit train: {note}", file=sys.stderr)
    check_image_size(data.image_shape[:2], patch_size)
    print(f"mexit train: data {data.source}: {data.record.get('split', '')}", file=sys.stderr)
    print(f"mexit train: {data.split_counts()}", file=sys.stderr)
    _print_settings(config)  # once the data is read: a bad flag stays a one-line error
    if mode == "resume":
        print(f"mexit train: resuming the interrupted run in {args.out}", file=sys.stderr)
    metrics = train_from_config(config, args.out, data=data, pretrained=pretrained)
    written = {"model": f"{args.out}/model.keras", "metrics": f"{args.out}/metrics.json"}
    if args.json:
        print(json.dumps({"data": data.record, "data_description": metrics["data"],
                          "validation": metrics["validation"], "test": metrics["test"],
                          "train_seconds": metrics["train_seconds"], **written}, indent=2))
        return 0
    metric = "mae" if len(data.class_names) == 0 else "accuracy"
    print(f"{'exit':10s} {'validation':>11s} {'test':>9s}   ({metric})")
    for name, value in metrics["test"].items():
        print(f"{name:10s} {metrics['validation'][name]:11.4f} {value:9.4f}")
    print(f"trained in {metrics['train_seconds']:.0f} s on {metrics['data']}")
    print(f"wrote {written['model']} and {written['metrics']}")
    return 0


def _load_pretrained(config: dict):
    """Loads --from and fills what the backbone decides: image size, colour mode, exits."""
    from mexit_tf.models.keras_hub_source import load_keras_hub_backbone, pretrained_exits

    backbone, converter = load_keras_hub_backbone(config["pretrained"])
    height, width, channels = (int(s) for s in backbone.image_shape)
    print(f"mexit train: from {config['pretrained']}: {type(backbone).__name__}, "
          f"{backbone.num_layers} blocks, width {backbone.hidden_dim}, pretrained at "
          f"{height}x{width}x{channels}", file=sys.stderr)
    if converter is None:
        print("mexit train: no image converter saved with it: pixels are scaled by 1/255",
              file=sys.stderr)
    colour = "grayscale" if channels == 1 else "rgb"
    if config.get("color_mode") not in (None, colour):
        raise MexitError(f"The pretrained backbone takes {channels}-channel images; received "
                         f"color_mode {config['color_mode']!r}. Leave it out.")
    config["color_mode"] = colour
    if config.get("image_size") is None:
        config["image_size"] = (height, width)
    if config.get("exits") is None:
        config["exits"] = pretrained_exits(backbone)
    return backbone, converter


def _print_settings(config: dict) -> None:
    """Every setting on stderr (metrics.json records the same), so a run says its recipe."""
    settings = ", ".join(f"{key}={value!r}" for key, value in config.items())
    print(f"mexit train: settings: {settings}", file=sys.stderr)
