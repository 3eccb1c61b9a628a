"""docs/design.md is the design the code cites, and it is checked against the code.

Comments cite only documents in the repository, and every section and step they cite exists;
every module, file and command the page names exists; the numbers and names it quotes (config
defaults, bins, schedules, outcome statuses, pinned versions, model sizes) are the code's.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import typing
from pathlib import Path

import pytest

from stepstones import cli
from stepstones.dataset._bins import BIN_SETS
from stepstones.dataset._schedule import SCHEDULES
from stepstones.envs._core import BaseEnvironment
from stepstones.llm import _model
from stepstones.pipeline import Config
from stepstones.sandbox._types import Status

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
TEXT = DESIGN.read_text()
SCANNED = ("python", "rust", "tests", "bench", "examples")
SUFFIXES = {".py", ".rs", ".sh", ".md", ".toml", ".txt", ".yaml"}
THIS = Path(__file__).resolve()


def _section(number: int) -> str:
    match = re.search(rf"^## {number}\. .*?(?=^## \d+\. |\Z)", TEXT, re.M | re.S)
    assert match, f"docs/design.md has no section {number}"
    return match.group(0)


def _sections() -> set[int]:
    return {int(n) for n in re.findall(r"^## (\d+)\. ", TEXT, re.M)}


def _steps(number: int) -> set[int]:
    return {int(n) for n in re.findall(r"^(\d+)\. \*\*", _section(number), re.M)}


@functools.cache
def _files() -> list[Path]:
    out = []
    for top in SCANNED:
        for path in (ROOT / top).rglob("*"):
            if path.suffix in SUFFIXES and path.is_file() and path.resolve() != THIS:
                out.append(path)
    return sorted(out)


@functools.cache
def _lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def test_sections_are_the_nine_the_code_cites() -> None:
    assert _sections() == set(range(1, 10))
    assert _steps(2) == set(range(1, 9))


# Ways to cite a document that is not in the repository.
_OUTSIDE = re.compile(r"\bDESIGN\b|DESIGN\.md|STYLE\.md|/work/shared")
# A citation: "docs/design.md §2", "§2 step 4", "§2 steps 1-4", "§2 and §4".
_CITE = re.compile(r"§\s*(\d+)(?:\s+steps?\s+(\d+)(?:\s*[-–]\s*(\d+))?)?")
# The documents a § may belong to: this repository's design, or a published standard, which
# anyone can read (RFC 9110 §5.5, PEP 8 §2).
_DOCUMENT = re.compile(r"docs/design\.md|\bRFC\s?\d+|\bPEP\s?\d+")


def _citations() -> list[tuple[str, str, re.Match[str]]]:
    """``(where, document, match)`` for every § in the scanned files; the document is the
    nearest one named before it on its line or the line above (comments wrap), else ""."""
    out = []
    for path in _files():
        lines = _lines(path)
        for number, line in enumerate(lines, 1):
            before = lines[number - 2] + "\n" if number > 1 else ""
            for match in _CITE.finditer(line):
                named = _DOCUMENT.findall(before + line[: match.start()])
                where = f"{path.relative_to(ROOT)}:{number}: {match[0]}"
                out.append((where, named[-1] if named else "", match))
    return out


def test_no_comment_cites_a_document_outside_the_repo() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _files()
        for number, line in enumerate(_lines(path), 1)
        if _OUTSIDE.search(line)
    ]
    bad += [f"{where} names no document" for where, document, _ in _citations() if not document]
    assert not bad, "cite docs/design.md §n instead:\n" + "\n".join(bad)


def test_every_cited_section_and_step_exists() -> None:
    sections = _sections()
    bad = []
    for where, document, match in _citations():
        if document != "docs/design.md":
            continue
        section = int(match[1])
        steps = {int(s) for s in match.groups()[1:] if s}
        if section not in sections:
            bad.append(f"{where} (no such section)")
        elif steps and not steps <= _steps(section):
            bad.append(f"{where} (no such step)")
    assert not bad, "\n".join(bad)


# --- the page against the code ------------------------------------------------------------------
PACKAGE = ROOT / "python" / "stepstones"


def _module_file(dotted: str) -> Path | None:
    parts = dotted.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base.with_suffix(".pyi"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _defines(source: Path, name: str) -> bool:
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return True
        elif isinstance(node, ast.ImportFrom | ast.Import):
            if any((alias.asname or alias.name.split(".")[-1]) == name for alias in node.names):
                return True
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False


def test_every_module_and_name_the_page_gives_exists() -> None:
    missing = []
    for dotted in sorted(set(re.findall(r"`(stepstones(?:\.\w+)+)`", TEXT))):
        parts = dotted.split(".")
        # The longest prefix that is a module; at most one attribute may follow it.
        for cut in range(len(parts), 1, -1):
            module = _module_file(".".join(parts[:cut]))
            if module is not None:
                rest = parts[cut:]
                if len(rest) > 1 or (rest and not _defines(module, rest[0])):
                    missing.append(dotted)
                break
        else:
            if dotted != "stepstones":
                missing.append(dotted)
    assert not missing, missing


def test_every_path_the_page_gives_exists() -> None:
    missing = []
    # Paths with a directory part, and the crate's modules by their bare names (`zygote.rs`).
    tokens = re.findall(r"`([\w./-]+/[\w./-]*|[\w-]+\.rs)`", TEXT)
    for token in sorted(set(tokens)):
        roots = (ROOT, PACKAGE, ROOT / "rust" / "sandbox" / "src")
        if not any((root / token).exists() for root in roots):
            missing.append(token)
    assert not missing, missing


def test_the_commands_are_the_clis() -> None:
    named = set(re.findall(r"`stepstones (\w+)", TEXT))
    assert named <= set(cli.COMMANDS), named - set(cli.COMMANDS)
    listed = re.search(r"dispatches subcommands\s+\(([^)]*)\)", _section(5), re.S)
    assert listed, "§5 lists the subcommands"
    assert set(re.findall(r"`(\w+)`", listed[1])) == set(cli.COMMANDS)


def test_quoted_defaults_are_the_code_defaults() -> None:
    defaults = {f: getattr(Config(), f) for f in Config.__struct_fields__}
    env_init = inspect.signature(BaseEnvironment.__init__).parameters
    defaults |= {name: p.default for name, p in env_init.items() if p.default is not p.empty}
    quoted = re.findall(r"`(\w+)`\s+\(([\d.]+)\)", _section(2))
    assert len(quoted) >= 6, quoted
    for name, value in quoted:
        assert name in defaults, f"§2 quotes `{name}`, which is not a setting"
        assert float(value) == defaults[name], (
            f"§2 says `{name}` ({value}), the code {defaults[name]}"
        )
    for number, (low, high) in Config().bands.items():
        assert f"{number} {low:g}–{high:g}" in _section(4).replace("\n", " ")


def test_bins_schedules_and_statuses_are_the_codes() -> None:
    four = " ".join(_section(4).split())
    for name, bins in BIN_SETS.items():
        spans = ", ".join(f"{b.name} {b.low:.2f}–{b.high:.2f}" for b in bins.bins)
        assert f"`{name}` preset" in four and f"({spans}" in four, (name, spans)
    assert set(SCHEDULES) <= set(re.findall(r"`(\w+)`", four))
    six = _section(6)
    assert set(typing.get_args(Status)) <= set(re.findall(r"`(\w+)`", six))


def test_pinned_versions_and_model_sizes_are_the_codes() -> None:
    seven = _section(7)
    for line in (ROOT / "tests" / "trainer-wheels.txt").read_text().splitlines():
        match = re.match(r"(openrlhf|verl|trl)==(\d+\.\d+)(\.\d+)?", line)
        if match:
            shown = re.search(rf"(?i){match[1]} (\d+\.\d+(?:\.\d+)?)", seven)
            assert shown and shown[1] in (match[2], match[2] + (match[3] or "")), line
    eight = _section(8)
    for spec in getattr(_model, "LOCAL_MODELS", {"0.5b": _model.QWEN_CODER_05B}).values():
        assert f"{spec.size_bytes:,} bytes" in " ".join(eight.split()), spec.filename


@pytest.mark.parametrize("cited", ["§2 step 4", "§2 steps 1-4", "§4"])
def test_the_citation_pattern_reads_what_comments_write(cited: str) -> None:
    match = _CITE.search(f"docs/design.md {cited}")
    assert match and int(match[1]) in _sections()
