"""Seed sampling: windows of real code, boilerplate skipped, reproducible, every source kind."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from stepstones.errors import ConfigError, SeedError
from stepstones.seeds import SeedSampler, is_boilerplate, stdlib_root

CODE = "\n".join(f"x{i} = {i} * 2  # line {i}" if i % 5 else f"def g{i}(a):" for i in range(1, 121))
LICENCE = "\n".join(["# Copyright (c) 2020 Someone", "# Licensed under the MIT License"] * 30)


def _write(dirpath: Path) -> None:
    (dirpath / "pkg").mkdir()
    (dirpath / "pkg" / "a.py").write_text(CODE + "\n")
    (dirpath / "pkg" / "short.py").write_text("x = 1\n")
    (dirpath / "header.py").write_text(LICENCE + "\n")
    (dirpath / "notes.txt").write_text(CODE)


def test_default_source_is_the_stdlib() -> None:
    sampler = SeedSampler()
    seed = sampler.sample(7)
    assert seed.source.startswith(str(stdlib_root()))
    assert "/test/" not in seed.source and "site-packages" not in seed.source
    assert 25 <= seed.end_line - seed.start_line + 1 <= 50
    lines = Path(seed.source).read_text(encoding="utf-8", errors="replace").split("\n")
    assert seed.text == "\n".join(lines[seed.start_line - 1 : seed.end_line]) + "\n"
    assert not is_boilerplate(seed.text.splitlines())


def test_reproducible_and_varied() -> None:
    a, b = SeedSampler(), SeedSampler()
    assert [a.sample(i) for i in range(5)] == [b.sample(i) for i in range(5)]
    assert len({s.id for s in a.samples(20, seed=100)}) == 20


def test_directory_source(tmp_path: Path) -> None:
    _write(tmp_path)
    sampler = SeedSampler(tmp_path, min_lines=10, max_lines=12)
    assert len(sampler) == 3  # *.py only
    for i in range(20):
        seed = sampler.sample(i)
        assert seed.source.endswith("a.py")  # short.py is too short, header.py is a licence
        assert 10 <= seed.text.count("\n") <= 12


def test_jsonl_and_gzip_sources(tmp_path: Path) -> None:
    rows = [{"content": CODE, "lang": "py"}, {"content": ""}, {"other": "x"}, {"content": LICENCE}]
    plain = tmp_path / "data.jsonl"
    plain.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    packed = tmp_path / "data.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        sampler = SeedSampler(path)
        assert len(sampler) == 2  # rows with text in the column
        seed = sampler.sample(3)
        assert seed.source == f"{path}:1"
        assert seed.text in CODE + "\n"
    custom = tmp_path / "custom.jsonl"
    custom.write_text(json.dumps({"code": CODE}) + "\n")
    assert len(SeedSampler(custom, text_column="code")) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(SeedError, match=r"bad\.jsonl:1 is not a JSON object"):
        SeedSampler(bad)


def test_parquet_source(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"content": [CODE, None, LICENCE]}), path)
    sampler = SeedSampler(path)
    assert len(sampler) == 2
    assert sampler.sample(0).source == f"{path}#0"
    with pytest.raises(SeedError, match="column 'code'"):
        SeedSampler(path, text_column="code")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "holds no documents"),
    ],
)
def test_missing_and_empty_sources(tmp_path: Path, make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SeedError, match=match):
        SeedSampler(make(tmp_path))


def test_only_boilerplate_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "h.py").write_text(LICENCE + "\n\n\n" + "# just a comment\n" * 60)
    with pytest.raises(SeedError, match="found no window"):
        SeedSampler(tmp_path).sample(0)


def test_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="min_lines"):
        SeedSampler(min_lines=60, max_lines=50)
    with pytest.raises(ConfigError, match="max_noise_fraction"):
        SeedSampler(max_noise_fraction=2.0)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["x = 1", "y = 2", "", "z = 3"], False),
        (["# a", "# b", "", "x = 1"], True),
        (['"""Doc', "more doc", "end", '"""', "x = 1"], True),
        (["x = 1", "# Copyright 2020", "y = 2", "z = 3", "w = 4"], True),
        (["// c", "/* block */", "int x = 1;", "int y = 2;", "return x;"], False),
        ([], True),
    ],
)
def test_is_boilerplate(lines: list[str], expected: bool) -> None:
    assert is_boilerplate(lines) is expected


def test_parquet_without_pyarrow_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    # A None entry in sys.modules makes the import fail as if pyarrow were not installed.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(SeedError, match=r"pip install 'stepstones\[parquet\]'"):
        SeedSampler(path)


FUNCTIONS = (
    """import codecs


def registered():
    return codecs.CodecInfo(name="x")


@cache
def clamp(x, low, high):
    if x < low:
        return low
    if x > high:
        return high
    return x


class Box:
    def area(self, w, h):
        if w < 0:
            return 0
        return w * h


def show(items):
    for item in items:
        print(item)


def too_long(xs):
"""
    + "".join(f"    x{i} = {i} if xs else -{i}\n" for i in range(40))
    + "    return xs\n"
)


def test_function_unit_yields_one_whole_top_level_function(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(FUNCTIONS)
    (tmp_path / "broken.py").write_text("def f(:\n" * 30)
    sampler = SeedSampler(tmp_path, unit="function", min_lines=3, max_lines=30)
    for i in range(10):
        seed = sampler.sample(i)
        # Only clamp qualifies: the stub returns without logic, the method is not top level,
        # show returns nothing, too_long is over max_lines, broken.py is not Python.
        assert seed.text.startswith("@cache\ndef clamp(x, low, high):\n")
        assert seed.text.endswith("    return x\n")
        lines = FUNCTIONS.split("\n")
        assert seed.text == "\n".join(lines[seed.start_line - 1 : seed.end_line]) + "\n"
    assert sampler.sample(4) == SeedSampler(tmp_path, unit="function", min_lines=3).sample(4)


def test_function_unit_on_the_stdlib() -> None:
    sampler = SeedSampler(unit="function", min_lines=5, max_lines=30)
    seeds = sampler.samples(10)
    assert len({s.id for s in seeds}) == 10
    for seed in seeds:
        assert 5 <= seed.end_line - seed.start_line + 1 <= 30
        assert seed.text.lstrip().startswith(("def ", "async def ", "@"))


def test_function_unit_without_functions_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(CODE + "\n")
    with pytest.raises(SeedError, match="found no whole top-level function of 3-30 lines"):
        SeedSampler(tmp_path, unit="function", min_lines=3, max_lines=30).sample(0)
    with pytest.raises(ConfigError, match="unit must be 'window' or 'function'"):
        SeedSampler(unit="line")  # type: ignore[arg-type]


def _short_function(i: int) -> str:
    body = "".join(f"        total += x * {k}\n" for k in range(i % 8))
    head = f"def g{i}(xs):\n    total = 0\n    for x in xs:\n"
    return f"{head}{body}        total += {i}\n    return total\n"


def test_a_row_shorter_than_the_window_is_a_seed_as_a_whole(tmp_path: Path) -> None:
    """The paper's other seed kind: short whole solutions (40 rows of 5-12 lines here)."""
    path = tmp_path / "solutions.jsonl"
    rows = [_short_function(i) for i in range(40)]
    path.write_text("".join(json.dumps({"content": r}) + "\n" for r in rows))
    sampler = SeedSampler(path)  # the default 25-50 line window is longer than every row
    seeds = sampler.samples(12)
    for seed in seeds:
        assert seed.text in rows  # the whole row, never a cut
        assert seed.start_line == 1
        assert seed.end_line == seed.text.count("\n")
    assert len({s.id for s in seeds}) > 6
    with pytest.raises(SeedError, match=r"found no window of 25-50 lines.*whole_short=True"):
        SeedSampler(path, whole_short=False).sample(0)
    # A function-unit sampler with bounds around the rows takes the same whole functions.
    function = SeedSampler(path, unit="function", min_lines=5, max_lines=15).sample(0)
    assert function.text in rows


def test_short_documents_need_some_code_to_be_a_seed(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    noise = "# a comment\n\n# another\nx = 1\n"
    path.write_text(
        json.dumps({"content": noise})
        + "\n"
        + json.dumps({"content": "a = 1\nb = 2\n"})  # two lines of code: too little
        + "\n"
    )
    with pytest.raises(SeedError, match="found no window"):
        SeedSampler(path).sample(0)


def test_the_stdlib_only_gives_full_windows() -> None:
    sampler = SeedSampler()
    assert sampler.whole_short is False
    for seed in sampler.samples(8, seed=40):
        assert 25 <= seed.end_line - seed.start_line + 1 <= 50
