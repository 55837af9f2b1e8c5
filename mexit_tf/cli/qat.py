"""`mexit qat`: quantization-aware fine-tuning of a trained float model, for int8 export.

Examples:
    mexit qat runs/fmnist/model.keras --out runs/qat
    mexit qat runs/fmnist/model.keras --out runs/qat --epochs 2 --lr 5e-5
    mexit export runs/qat/model.keras --out bundles/int8 --quantize int8
"""

import argparse
import json

from mexit_tf.cli.arguments import positive_float, positive_int
from mexit_tf.cli.data_option import DATA_HELP


def add_parser(commands):
    parser = commands.add_parser("qat", help="quantization-aware fine-tuning (for int8 export)",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="trained float .keras file")
    parser.add_argument("--out", required=True, help="output folder (model.keras, metrics.json)")
    parser.add_argument("--epochs", type=positive_int, default=1,
                        help="fine-tuning epochs (default 1)")
    parser.add_argument("--lr", type=positive_float, default=1e-4,
                        help="peak learning rate (default 1e-4)")
    parser.add_argument("--data", help=DATA_HELP)
    parser.add_argument("--smoke", action="store_true", help="256 examples per split, for CI")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run in --out (only a run that mexit wrote)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mexit_tf.cli.data_option import load_splits, resolve_data
    from mexit_tf.converters.bundle_export import load_multi_exit_model
    from mexit_tf.data.class_names import match_class_names
    from mexit_tf.errors import MexitError
    from mexit_tf.training.qat_finetune import finetune_qat
    from mexit_tf.training.run_folder import prepare_run_folder

    prepare_run_folder(args.out, overwrite=args.overwrite)
    model = load_multi_exit_model(args.model)
    if model.backbone.input_kind != "image":
        raise MexitError(f"mexit qat fine-tunes on image datasets; this model takes "
                         f"{model.backbone.input_kind}. Call mexit_tf.quantize_aware(model) "
                         "and fit it on your data in Python.")
    record = model.data_source
    spec = resolve_data(args.data, record, "qat")
    data = load_splits(spec, model.backbone.image_shape, record, "qat")
    if record and record.get("class_names"):
        match_class_names(data.class_names, record["class_names"])
    if args.smoke:
        data = data.subset(256, 256, 256)
    _, metrics = finetune_qat(model, data, args.out, epochs=args.epochs,
                              learning_rate=args.lr)
    rows = {name: {"float": metrics["float"]["test"][name], "qat": metrics["qat"]["test"][name]}
            for name in model.exit_names}
    print(json.dumps({"test_accuracy": rows, "train_seconds": metrics["train_seconds"]},
                     indent=2))
    print(f"wrote {args.out}/model.keras and {args.out}/metrics.json")
    return 0
