"""The arrows between the packages point one way, checked on the source (AST), so a new import that runs back
fails here and not in a review.

- The core (`usagestream/`) imports no adapter: streams, materializer, http, stack, publisher.
- A reader (`materializer/read/`) imports neither the writer (`materializer/write/`) nor an operator command
  (`materializer/ops/`); the writer imports neither the readers nor the commands. What they share lives beside
  them in `materializer/` (pg_pool, pg_tables, pg_counters, pg_cutoffs, redis_layout).
- The materializer answers questions and imports nothing of the HTTP layer or the stream worker; http shapes.
- The publisher's client (what a gateway embeds) imports nothing of the load generator beside it.
- The live set's Redis keys are named in one module (materializer/redis_layout.py).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (importer prefix, imported prefix, why it is refused)
FORBIDDEN = [
    ("usagestream.materializer.read", "usagestream.materializer.write", "a reader imports the writer"),
    ("usagestream.materializer.read", "usagestream.materializer.ops", "a reader imports an operator command"),
    ("usagestream.materializer.write", "usagestream.materializer.read", "the writer imports a reader"),
    ("usagestream.materializer.write", "usagestream.materializer.ops", "the writer imports an operator command"),
    ("usagestream.materializer", "usagestream.http", "the materializer imports the HTTP layer"),
    ("usagestream.materializer", "usagestream.streams", "the materializer imports the stream worker"),
    ("usagestream.http", "usagestream.streams", "the HTTP layer imports the stream worker"),
    ("usagestream.http", "usagestream.materializer.write", "the HTTP layer imports the writer"),
    ("usagestream.http", "usagestream.materializer.ops", "the HTTP layer imports an operator command"),
]
ADAPTERS = ("streams", "materializer", "http", "stack", "publisher")


def package_dirs(root: Path) -> dict[str, Path]:
    """pyproject's package-dir mapping: package name -> folder."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return {name: root / folder for name, folder in config["tool"]["setuptools"]["package-dir"].items()}


def source_modules(root: Path) -> dict[str, Path]:
    """Every module of the source tree by its import name, through the package-dir mapping."""
    found: dict[str, Path] = {}
    for package, folder in package_dirs(root).items():
        for path in folder.glob("*.py"):
            name = package if path.name == "__init__.py" else f"{package}.{path.stem}"
            found[name] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `module` imports anywhere in its file (functions and TYPE_CHECKING included);
    `from package import name` counts as importing `package.name` when that is a module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    return {m for m in out if m == "usagestream" or m.startswith("usagestream.")}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def core_modules(modules: dict[str, Path]) -> set[str]:
    core_dir = package_dirs(ROOT)["usagestream"]
    return {m for m, p in modules.items() if p.parent == core_dir}


def violations(root: Path) -> list[str]:
    modules = source_modules(root)
    known = set(modules)
    core_dir = package_dirs(root)["usagestream"]
    out = []
    for module, path in sorted(modules.items()):
        for imported in sorted(imports_of(module, path, known)):
            for importer, target, why in FORBIDDEN:
                if _under(module, importer) and _under(imported, target):
                    out.append(f"{module} imports {imported}: {why}")
            if path.parent == core_dir and any(_under(imported, f"usagestream.{a}") for a in ADAPTERS):
                out.append(f"{module} imports {imported}: the core imports an adapter")
            client = _under(module, "usagestream.publisher") and not _under(module, "usagestream.publisher.loadgen")
            if client and _under(imported, "usagestream.publisher.loadgen"):
                out.append(f"{module} imports {imported}: the publisher's client imports the load generator")
    return out


def test_imports_point_one_way() -> None:
    assert violations(ROOT) == []


def test_the_check_sees_every_package() -> None:
    modules = source_modules(ROOT)
    for package in (
        "usagestream.materializer.read",
        "usagestream.materializer.write",
        "usagestream.http.views",
        "usagestream.publisher.loadgen",
    ):
        assert any(_under(m, package) and m != package for m in modules), package
    assert "usagestream.settings" in core_modules(modules)


def test_a_reader_importing_an_operator_command_is_reported(tmp_path: Path) -> None:
    """The check itself, on a synthetic tree: each kind of wrong arrow is found, relative imports too."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackage-dir = { "usagestream" = "core", "usagestream.materializer" = "m",'
        ' "usagestream.materializer.read" = "m/read", "usagestream.materializer.ops" = "m/ops",'
        ' "usagestream.publisher" = "p", "usagestream.publisher.loadgen" = "p/loadgen" }\n'
    )
    files = {
        "core/__init__.py": "",
        "core/stats.py": "from usagestream.materializer import read\n",
        "m/__init__.py": "",
        "m/read/__init__.py": "",
        "m/read/stats.py": "from usagestream.materializer.ops import retention\n",
        "m/read/cache.py": "def f():\n    from ..ops.retention import widen\n",
        "m/ops/__init__.py": "",
        "m/ops/retention.py": "from usagestream.materializer.read import stats\n",  # allowed
        "p/__init__.py": "",
        "p/events.py": "from usagestream.publisher.loadgen import traffic\n",
        "p/loadgen/__init__.py": "",
        "p/loadgen/traffic.py": "from usagestream.publisher import events\n",  # allowed
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path)
    assert found == [
        "usagestream.materializer.read.cache imports usagestream.materializer.ops.retention: a reader imports an"
        " operator command",
        "usagestream.materializer.read.stats imports usagestream.materializer.ops: a reader imports an operator"
        " command",
        "usagestream.materializer.read.stats imports usagestream.materializer.ops.retention: a reader imports an"
        " operator command",
        "usagestream.publisher.events imports usagestream.publisher.loadgen: the publisher's client imports the"
        " load generator",
        "usagestream.publisher.events imports usagestream.publisher.loadgen.traffic: the publisher's client"
        " imports the load generator",
        "usagestream.stats imports usagestream.materializer: the core imports an adapter",
        "usagestream.stats imports usagestream.materializer.read: the core imports an adapter",
    ]


def live_key_calls(path: Path) -> list[int]:
    """Lines that build a live-set key (`<settings>.key("live", ...)`)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "key"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "live"
    ]


def test_the_redis_layout_is_named_once() -> None:
    """Tests and benchmarks aside, only materializer/redis_layout.py spells a live-set key."""
    spelled = {path.relative_to(ROOT).as_posix() for path in source_modules(ROOT).values() if live_key_calls(path)}
    assert spelled == {"materializer/redis_layout.py"}


@pytest.mark.parametrize("source", ['s.key("live", "by_created")', 'settings.key("live")'])
def test_a_live_key_spelled_elsewhere_is_seen(tmp_path: Path, source: str) -> None:
    (tmp_path / "x.py").write_text(f"def f(s, settings):\n    return {source}\n")
    assert live_key_calls(tmp_path / "x.py") == [2]
