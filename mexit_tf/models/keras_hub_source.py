"""`mexit train --from SOURCE`: a keras-hub ViT, DeiT or DINOv2 from wherever it is."""

import os
from pathlib import Path

from mexit_tf.errors import MexitError
from mexit_tf.models.keras_hub_import import hub_family, hub_parts
from mexit_tf.models.multi_exit_model import quarter_exits

PREFIXES = ("vit_", "deit_", "dinov2_")  # keras-hub's ViT-family preset names
_LOCAL_HINT = ("On a machine with network, save it with keras_hub.models.Backbone.from_preset("
               "{source!r}).save_to_preset('FOLDER') (or the ImageClassifier's, to keep its "
               "preprocessing), copy FOLDER here and pass --from FOLDER.")


def vit_family_presets() -> list[str]:
    """keras-hub's built-in ViT, DeiT and DINOv2 preset names."""
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    return sorted(name for name in BUILTIN_PRESETS if name.startswith(PREFIXES))


def _is_network_error(error: BaseException) -> bool:
    """Connection failures, as requests, urllib3, kagglehub and huggingface_hub raise them."""
    for cause in (error, error.__cause__, error.__context__):
        names = {cls.__name__ for cls in type(cause).__mro__} if cause else set()
        if names & {"ConnectionError", "Timeout", "TimeoutError", "NameResolutionError",
                    "MaxRetryError", "OfflineModeIsEnabled", "LocalEntryNotFoundError",
                    "KaggleApiHTTPError", "HTTPError", "URLError", "gaierror"}:
            return True
    return "no config.json" in str(error) and "://" in str(error)


def _load_preset(source: str):
    import keras_hub

    local = os.path.isdir(source)
    if not local and "://" not in source and source not in vit_family_presets():
        from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

        what = ("not a ViT, DeiT or DINOv2 preset" if source in BUILTIN_PRESETS
                else "not a keras-hub preset name, handle or local preset folder")
        raise MexitError(f"Unknown preset {source!r}: {what}. ViT-family presets: "
                         f"{', '.join(vit_family_presets())}.")
    try:
        backbone = keras_hub.models.Backbone.from_preset(source)
    except MexitError:
        raise
    except Exception as error:  # keras-hub raises anything from ValueError to ConnectionError
        if local:
            raise MexitError(f"Cannot load the preset folder {source!r} with keras-hub: "
                             f"{str(error).splitlines()[0]}") from error
        if _is_network_error(error):
            raise MexitError(f"Cannot fetch the weights of {source!r} (no network, or the "
                             "host refused). " + _LOCAL_HINT.format(source=source)) from error
        raise MexitError(f"keras-hub cannot load {source!r}: "
                         f"{str(error).splitlines()[0]}") from error
    converter = None
    if not local or (Path(source) / "image_converter.json").exists():
        try:
            converter = keras_hub.layers.ImageConverter.from_preset(source)
        except Exception:  # no converter saved with it: the caller says which scaling is used
            converter = None
    if converter is None and (source.startswith("hf://") or (
            local and (Path(source) / "preprocessor_config.json").exists())):
        converter = hf_image_converter(source)
    return backbone, converter


def hf_image_converter(source: str):
    """An ImageConverter from a Hugging Face checkpoint's `preprocessor_config.json`.

    keras-hub converts ViT, DeiT and DINOv2 weights from `hf://` handles but not
    their pixel normalisation (ImageNet or 0.5 mean/std), which the model must hold
    to take raw pixels. None when the file is missing.
    """
    import json

    import keras_hub
    from keras_hub.src.utils.preset_utils import get_file

    try:
        config = json.loads(Path(get_file(source, "preprocessor_config.json")).read_text())
    except (FileNotFoundError, ValueError):
        return None
    scale = config.get("rescale_factor", 1 / 255.0) if config.get("do_rescale", True) else 1.0
    mean, std = config.get("image_mean"), config.get("image_std")
    if not config.get("do_normalize", True) or mean is None or std is None:
        return keras_hub.layers.ImageConverter(scale=scale)
    return keras_hub.layers.ImageConverter(
        scale=[scale / s for s in std], offset=[-m / s for m, s in zip(mean, std, strict=True)])


def _load_keras_file(source: str):
    import keras
    import keras_hub  # noqa: F401  (registers keras-hub's classes for deserialization)

    try:
        model = keras.saving.load_model(source, compile=False)
    except Exception as error:
        raise MexitError(f"Cannot load {source!r} as a Keras model: "
                         f"{str(error).splitlines()[0]}") from error
    try:
        backbone, classifier, _ = hub_parts(model)
    except MexitError:
        raise MexitError(f"{source!r} holds a {type(model).__name__}, not a keras-hub ViT, "
                         "DeiT or DINOv2 backbone or image classifier; mexit adds exits to "
                         "ViT-family models only.") from None
    converter = getattr(getattr(classifier, "preprocessor", None), "image_converter", None)
    return backbone, converter


def load_keras_hub_backbone(source: str):
    """`(backbone, image_converter or None)` for a preset name, handle, folder or .keras file.

    SOURCE is a keras-hub preset name (`deit_tiny_distilled_patch16_224_imagenet`), any
    handle keras-hub accepts (`kaggle://…`, `hf://…`), a folder written by
    `save_to_preset`, or a `.keras` file of a keras-hub backbone or image classifier.
    Every failure is a one-line `MexitError`: unknown preset, weights that cannot be
    fetched, or a model that is not a ViT, DeiT or DINOv2.
    """
    source = str(source)
    if source.endswith(".keras"):
        if not os.path.isfile(source):
            raise MexitError(f"--from {source!r}: no such .keras file.")
        backbone, converter = _load_keras_file(source)
    else:
        backbone, converter = _load_preset(source)
    if not hub_family(backbone):
        raise MexitError(f"{source!r} holds a keras-hub {type(backbone).__name__}, not a ViT, "
                         "DeiT or DINOv2 backbone; mexit adds exits to ViT-family models only.")
    return backbone, converter


def pretrained_exits(backbone) -> dict:
    """Default exits on a keras-hub backbone: `mlp_ee` (class token) after 1/4, 1/2 and
    3/4 of its blocks; a ViT pretrained without a class token gets `sl_vit` (patch grid)."""
    head = "mlp_ee" if getattr(backbone, "use_class_token", True) else "sl_vit"
    return quarter_exits(backbone.num_layers, head)
