"""The installed layout: `converters/` ships as `mexit_tf.converters`, never as `converters`."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _package_folders() -> set[str]:
    names = set()
    for init in ROOT.glob("mexit_tf/**/__init__.py"):
        names.add(".".join(init.parent.relative_to(ROOT).parts))
    for init in ROOT.glob("converters/**/__init__.py"):
        names.add(".".join(("mexit_tf", *init.parent.relative_to(ROOT).parts)))
    return names


def test_every_package_folder_is_listed_for_installation():
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(settings["packages"]) == _package_folders()
    assert settings["package-dir"] == {"mexit_tf.converters": "converters"}


def test_converters_import_under_mexit_tf_only(tmp_path):
    # Run outside the checkout: there the folder itself is not on sys.path.
    probe = ("import importlib.util, mexit_tf.converters as c; "
             "print(c.__name__, importlib.util.find_spec('converters') is None)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["mexit_tf.converters", "True"]
