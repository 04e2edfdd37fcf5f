"""Every citation of a Markdown file points at a file in the repository, and every cited section exists in it.

Comments, docstrings and docs explain a rule by citing the spec (`docs/contract.md §5.2`,
`docs/reference-api.md §3.4`). A citation of a file the repository does not hold (the spec the project was given
lived outside it), or of a section that was renumbered, leaves the reader without the reason. So:
- a cited `*.md` path must exist, relative to the repository root or to the citing file's folder (an absolute path
  such as `/tmp/out.md` is an output file, not a citation, and a URL is not checked);
- each `§N` / `§N.N` written right after it must be a numbered heading of that file (`## 3. ...`, `### 3.2 ...`);
- a `§` without a file is allowed only inside a Markdown file, where it means that file's own section;
- the outside spec's names (see OUTSIDE_SPEC) are not cited at all."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "__pycache__",
    ".ruff_cache",
    ".pytest_cache",
    ".mypy_cache",
    "build",
    "dist",
}
# The names of the spec the project was given before it had its own copy in docs/ (built by concatenation, so
# that this file does not cite them itself).
OUTSIDE_SPEC = re.compile(r"\b" + "CONTRACT" + r"\.md\b|" + "aether-usage" + "-api")

SECTIONS = r"§\d+(?:\.\d+)*(?:\s*(?:,|and|to|or|-|–|/)?\s*§\d+(?:\.\d+)*)*"
CLOSERS = r"[`'\")\]]*"  # a closing quote, backtick or parenthesis may stand between a path and its sections
CITATION = re.compile(
    r"(?<![\w/.:%-])(?P<path>(?:[\w.-]+/)*[\w-][\w.-]*\.md)(?![\w-]|\.\w)"
    "(?:" + CLOSERS + r"[ \t]+(?P<sections>" + SECTIONS + "))?"
)
SECTION = re.compile(r"§(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{1,6}[ \t]+(\d+(?:\.\d+)*)\.?[ \t]", re.MULTILINE)


@dataclass(frozen=True)
class Citation:
    line: int
    path: str
    sections: tuple[str, ...]


def citations(text: str) -> list[Citation]:
    """The `*.md` paths the text cites, each with the sections written right after it."""
    found = []
    for m in CITATION.finditer(text):
        sections = tuple(SECTION.findall(m.group("sections") or ""))
        found.append(Citation(text.count("\n", 0, m.start()) + 1, m.group("path"), sections))
    return found


def bare_sections(text: str) -> list[tuple[int, str]]:
    """`§N.N` references that follow no file citation: (line, section)."""
    cited = [m.span("sections") for m in CITATION.finditer(text) if m.group("sections")]
    found = []
    for m in SECTION.finditer(text):
        if not any(start <= m.start() < end for start, end in cited):
            found.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return found


def headings(markdown: str) -> set[str]:
    """The section numbers of a Markdown file's numbered headings."""
    return set(HEADING.findall(markdown))


def _resolve(root: Path, citing: Path, cited: str) -> Path | None:
    for base in (root, (root / citing).parent):
        candidate = (base / cited).resolve()
        if candidate.is_file() and candidate.is_relative_to(root.resolve()):
            return candidate
    return None


def problems(root: Path, citing: Path, text: str) -> list[str]:
    """What is wrong with the citations of one file (`citing`, relative to `root`)."""
    out = [
        f"{citing}:{text.count(chr(10), 0, m.start()) + 1}: cites the outside spec ({m.group(0)})"
        for m in OUTSIDE_SPEC.finditer(text)
    ]
    for c in citations(text):
        target = _resolve(root, citing, c.path)
        if target is None:
            out.append(f"{citing}:{c.line}: cites {c.path}, which is not in the repository")
            continue
        missing = [s for s in c.sections if s not in headings(target.read_text(encoding="utf-8"))]
        out += [f"{citing}:{c.line}: cites {c.path} §{s}, which has no such section" for s in missing]
    own = headings(text) if citing.suffix == ".md" else set()
    for line, section in bare_sections(text):
        if citing.suffix != ".md":
            out.append(f"{citing}:{line}: cites §{section} without naming the file")
        elif section not in own:
            out.append(f"{citing}:{line}: cites §{section}, which this file does not have")
    return out


def text_files(root: Path) -> dict[Path, str]:
    """Every text file of the repository (relative path -> text); binary files are skipped."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in names:
            path = Path(folder) / name
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if "\0" not in text:
                files[path.relative_to(root)] = text
    return files


# --- the repository --------------------------------------------------------------------------------------------


def test_the_scan_sees_code_docs_and_scripts() -> None:
    seen = set(text_files(ROOT))
    expected = {"README.md", "docs/contract.md", "usagestream/contract.py", "http/static/drawer.js", "scripts/test"}
    assert {Path(p) for p in expected} <= seen


def test_every_citation_in_the_repository_resolves() -> None:
    files = text_files(ROOT)
    del files[Path(__file__).resolve().relative_to(ROOT)]  # its synthetic citations below are wrong on purpose
    found = [p for path, text in sorted(files.items()) for p in problems(ROOT, path, text)]
    assert found == []


def test_the_spec_documents_are_cited_by_section() -> None:
    # The rewrite pointed the code at the new documents: they are cited, and by section.
    cited = [c for text in text_files(ROOT).values() for c in citations(text)]
    for doc in ("docs/contract.md", "docs/reference-api.md"):
        assert sum(1 for c in cited if c.path == doc and c.sections) >= 10, doc


# --- the check itself, on synthetic files ---------------------------------------------------------------------

SPEC = "# Spec\n\n## 1. Topics\n\n### 1.1 Names\n\n## 3. Endpoints\n\n### 3.10 Users\n\nSee §1.1 and §3.\n"


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "spec.md").write_text(SPEC)
    (tmp_path / "docs" / "notes.md").write_text("# Notes\n")
    return tmp_path


def _problems(root: Path, citing: str, text: str) -> list[str]:
    return problems(root, Path(citing), text)


def test_a_citation_of_an_existing_file_and_sections_passes(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    text = '"""Topics (docs/spec.md §1.1); users: docs/spec.md §3.10, §1 and §3; docs/notes.md."""\n'
    assert _problems(root, "pkg/mod.py", text) == []
    assert citations(text)[1].sections == ("3.10", "1", "3")


def test_a_citation_of_a_missing_file_fails(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    found = _problems(root, "pkg/mod.py", "# the bound of docs/specs.md §1.1\n")
    assert found == ["pkg/mod.py:1: cites docs/specs.md, which is not in the repository"]


def test_a_citation_of_a_missing_section_fails(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    found = _problems(root, "pkg/mod.py", "x = 1\n# docs/spec.md §1.2 and §3.1 say so\n")
    assert found == [
        "pkg/mod.py:2: cites docs/spec.md §1.2, which has no such section",
        "pkg/mod.py:2: cites docs/spec.md §3.1, which has no such section",
    ]


def test_a_section_without_a_file_fails_outside_markdown(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _problems(root, "pkg/mod.py", "# as §3.10 says\n") == ["pkg/mod.py:1: cites §3.10 without naming the file"]


def test_a_section_without_a_file_is_that_markdown_file_s_own(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _problems(root, "docs/spec.md", SPEC) == []
    found = _problems(root, "docs/spec.md", SPEC + "And §4.1.\n")
    assert found == ["docs/spec.md:12: cites §4.1, which this file does not have"]


def test_a_path_relative_to_the_citing_file_resolves(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _problems(root, "docs/notes.md", "See [the spec](spec.md) §3.10.\n") == []
    assert _problems(root, "README.md", "See spec.md.\n") == [
        "README.md:1: cites spec.md, which is not in the repository"
    ]


def test_the_outside_spec_is_refused_by_name(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    old = "CONTRACT" + ".md section 5"
    found = _problems(root, "pkg/mod.py", f"# {old}\n# aether-usage" + "-api 3.4\n")
    assert "pkg/mod.py:1: cites the outside spec (CONTRACT" + ".md)" in found
    assert "pkg/mod.py:2: cites the outside spec (aether-usage" + "-api)" in found


def test_urls_absolute_paths_and_other_extensions_are_not_citations() -> None:
    text = "https://github.com/o/r/blob/main/README.md /tmp/bench_1m.md notes.mdx docs/x.md.bak a.md5\n"
    assert citations(text) == []
