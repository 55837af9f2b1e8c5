"""The bundle manifest: the contract between exporter, Python runtime and Android app.

Change its layout only together with FORMAT_VERSION.
"""

import hashlib
import json
from pathlib import Path

from mexit_tf.errors import MexitError
from mexit_tf.gating.exit_policy import ExitPolicy

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_REQUIRED = ("format_version", "input", "labels", "quantization", "stages", "policy")
_STAGE_REQUIRED = ("file", "sha256", "exit", "inputs", "outputs", "cost")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validate_manifest(manifest, where: str = "manifest") -> dict:
    """Checks the layout and the policy; raises MexitError naming what is wrong."""
    if not isinstance(manifest, dict):
        raise MexitError(f"{where} must hold a JSON object; received {type(manifest).__name__}.")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise MexitError(f"{where} has format_version {version!r}; this mexit_tf reads "
                         f"version {FORMAT_VERSION}. Re-export the bundle or upgrade mexit_tf.")
    missing = [key for key in _REQUIRED if key not in manifest]
    if missing:
        raise MexitError(f"{where} lacks {', '.join(missing)}.")
    stages = manifest["stages"]
    if not isinstance(stages, list) or not stages:
        raise MexitError(f"{where}: 'stages' must be a non-empty list.")
    for index, stage in enumerate(stages):
        absent = [key for key in _STAGE_REQUIRED if key not in stage]
        if absent:
            raise MexitError(f"{where}: stage {index} lacks {', '.join(absent)}.")
    policy = ExitPolicy.from_dict(manifest["policy"])
    if policy.num_exits != len(stages):
        raise MexitError(f"{where}: the policy covers {policy.num_exits} exits but the bundle "
                         f"has {len(stages)} stages.")
    return manifest


def is_mexit_bundle(path: str | Path) -> bool:
    """True for a folder whose manifest.json mexit wrote (format_version and stages)."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(manifest, dict) and "format_version" in manifest
            and isinstance(manifest.get("stages"), list))


def check_replaceable_bundle(path: str | Path, overwrite: bool) -> None:
    """Refuses an output path that is not ours to replace: a file, a folder that is not a
    mexit bundle, or an existing bundle without `overwrite`."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir() or path.is_symlink():
        raise MexitError(f"{str(path)!r} exists and is not a folder; a bundle is a folder. "
                         "Choose another --out (nothing was written).")
    if not is_mexit_bundle(path):
        raise MexitError(f"{str(path)!r} exists and is not a mexit bundle (no manifest.json "
                         "written by mexit_tf); refusing to replace it, even with --overwrite. "
                         "Choose another --out.")
    if not overwrite:
        raise MexitError(f"{str(path)!r} already exists; pass --overwrite to replace it.")


def read_manifest(bundle: str | Path, verify_files: bool = True) -> dict:
    """Loads and validates `bundle/manifest.json`; checks each stage file's sha256."""
    bundle = Path(bundle)
    path = bundle / MANIFEST_NAME
    if not path.is_file():
        raise MexitError(f"{str(bundle)!r} is not a bundle: no {MANIFEST_NAME} in it.")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise MexitError(f"{path} is not valid JSON ({error}).") from None
    validate_manifest(manifest, str(path))
    if verify_files:
        for stage in manifest["stages"]:
            file = bundle / stage["file"]
            if not file.is_file():
                raise MexitError(f"Stage file {stage['file']!r} is missing from {bundle}.")
            digest = sha256_of(file)
            if digest != stage["sha256"]:
                raise MexitError(
                    f"Stage file {stage['file']!r} is corrupted: sha256 {digest[:12]}… does "
                    f"not match the manifest's {stage['sha256'][:12]}….")
    return manifest
