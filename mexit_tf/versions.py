import platform
from importlib import metadata


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results, for manifests and metrics files."""
    versions = {"python": platform.python_version()}
    for name in ("mexit_tf", "keras", "tensorflow", "numpy", "ai-edge-litert", "jax"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_description() -> dict[str, str]:
    import os

    return {"machine": platform.machine(), "system": platform.system(),
            "processor": platform.processor() or "unknown", "cpu_count": str(os.cpu_count())}
