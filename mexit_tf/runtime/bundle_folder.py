"""A bundle folder as an output: what may be replaced, and what is the user's."""

import json
from pathlib import Path

from mexit_tf.errors import MexitError
from mexit_tf.runtime.manifest import MANIFEST_NAME


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
    foreign = sorted(entry.name for entry in path.iterdir() if entry.name not in _ours(path))
    if foreign:
        raise MexitError(f"{str(path)!r} holds files mexit did not write ({', '.join(foreign[:5])}"
                         f"{', ...' if len(foreign) > 5 else ''}); --overwrite replaces only a "
                         "bundle's own files. Move them out, or choose another --out.")


def _ours(bundle: Path) -> set[str]:
    """What mexit wrote into a bundle folder: its manifest and the stage files it names."""
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    return {MANIFEST_NAME, *(stage.get("file") for stage in manifest["stages"]
                             if isinstance(stage, dict))}
