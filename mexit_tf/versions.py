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
            "processor": _cpu_model() or platform.processor() or "unknown",
            "cpu_count": str(os.cpu_count())}


def _cpu_model() -> str | None:
    # platform.processor() is empty on most Linux systems; /proc/cpuinfo names the CPU.
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None
