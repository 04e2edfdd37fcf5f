"""Guards of the package layout: our `http/` folder must never shadow the standard library, and a real (not
editable) build ships every module: setuptools builds only the packages pyproject lists, so a sub-package missing
from the package-dir mapping or the packages list would vanish from `pip install .` while every editable test
passes."""

import http
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

import usagestream.http

ROOT = Path(__file__).resolve().parents[2]
# What a build never needs, left out of the copy the wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "build",
    "dist",
    "*.egg-info",
    "artifacts",
    ".usagestream",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    "node_modules",
)


def test_http_is_the_standard_library() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(http.__file__).resolve().is_relative_to(stdlib)


def test_our_http_package_is_namespaced() -> None:
    assert Path(usagestream.http.__file__).resolve().parent.name == "http"
    assert usagestream.http.__name__ == "usagestream.http"


def _setuptools_config() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config


def _folders_with_modules() -> dict[str, Path]:
    """Every folder under a top-level mapped folder (http/, materializer/, ...) that holds a .py file, by the
    package name it must have."""
    tops = {name: ROOT / folder for name, folder in _setuptools_config()["package-dir"].items() if "/" not in folder}
    found = {}
    for name, top in tops.items():
        for path in top.rglob("*.py"):
            rel = path.parent.relative_to(top)
            if "__pycache__" not in rel.parts:
                found[".".join([name, *rel.parts])] = path.parent
    return found


def test_every_subpackage_is_mapped_listed_and_has_an_init() -> None:
    config = _setuptools_config()
    folders = _folders_with_modules()
    assert {"usagestream.materializer.read", "usagestream.http.views", "usagestream.publisher.loadgen"} <= set(folders)
    for name, folder in folders.items():
        assert (folder / "__init__.py").is_file(), f"{folder} has modules but no __init__.py"
        assert config["package-dir"].get(name) == folder.relative_to(ROOT).as_posix(), f"{name} not in package-dir"
        assert name in config["packages"], f"{name} not in packages"


@pytest.mark.timeout(600)
def test_a_built_wheel_holds_every_module(tmp_path: Path) -> None:
    """`pip wheel --no-deps` of a copy of the tree, then the wheel's list of files: every .py of every mapped
    folder is in it under its package's path, and so is the dashboard (package data)."""
    src, out = tmp_path / "src", tmp_path / "wheel"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=540,
    )
    (wheel,) = out.glob("usagestream-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = set(zf.namelist())
    expected = {
        "/".join(name.split(".")) + "/" + path.name
        for name, folder in _folders_with_modules().items()
        for path in folder.glob("*.py")
    }
    assert len(expected) > 100
    assert sorted(expected - shipped) == []
    assert {"usagestream/http/static/index.html", "usagestream/materializer/migrations/script.py.mako"} <= shipped
    static = ROOT / "http" / "static"  # the whole dashboard, vendored libraries (static/vendor/) included
    dashboard = {
        "usagestream/http/static/" + p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file()
    }
    assert any("/vendor/" in name for name in dashboard)
    assert sorted(dashboard - shipped) == []
