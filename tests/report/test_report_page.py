"""`stepstones report`: the files it writes, the page's safety, and runs that are still being
written, lack a manifest, are empty or are not runs at all."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import msgspec
import pytest
from _report_runs import HOSTILE_REPLY, chain, varied_chains, write_run

from stepstones.cli import main
from stepstones.errors import StoreError
from stepstones.records import encode_json
from stepstones.report import ReportData, compute, figure_ids, load_run
from stepstones.report._page import render

PNG = b"\x89PNG\r\n\x1a\n"


def _page_text(run: Path) -> str:
    """The page of ``run`` with placeholder images: for what the page says, not its figures."""
    loaded = load_run(run)
    data = compute(loaded)
    return render(loaded, data, dict.fromkeys(figure_ids(data), PNG))


def test_writes_a_page_every_figure_as_png_and_the_data(varied: tuple[Path, Path]) -> None:
    run, page = varied
    assert page == run / "report" / "index.html"
    data = compute(load_run(run))
    text = page.read_text(encoding="utf-8")
    for fig_id in figure_ids(data):
        assert (page.parent / f"{fig_id}.png").read_bytes().startswith(PNG)
        assert text.count(f'id="{fig_id}"') == 1
    saved = msgspec.json.decode((page.parent / "data.json").read_bytes(), type=ReportData)
    assert saved == data
    assert len(figure_ids(data)) == 5 + 4  # four example chains


def test_the_page_needs_no_network_and_escapes_what_the_run_holds(
    varied: tuple[Path, Path],
) -> None:
    text = varied[1].read_text(encoding="utf-8")
    # Every src/href is inline data; nothing is fetched and nothing runs.
    assert re.findall(r'(?:src|href)="(?!data:)', text) == []
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert HOSTILE_REPLY not in text
    assert "add 0 &lt;b&gt;to&lt;/b&gt; x" in text  # a problem message, shown as text
    assert "(847 more characters)" in text  # the reply is trimmed


def test_a_run_being_written_reads_its_finished_chains(tmp_path: Path) -> None:
    chains = varied_chains()
    run = write_run(tmp_path / "run", chains[:4])
    line = encode_json(chains[4]) + b"\n"
    with (run / "chains.jsonl").open("ab") as f:
        f.write(line[:200])  # the writer is mid-line
    loaded = load_run(run)
    assert loaded.torn_tail and [c.id for c in loaded.chains] == [c.id for c in chains[:4]]
    assert "still being written" in _page_text(run)
    with (run / "chains.jsonl").open("ab") as f:
        f.write(line[200:])  # ... and finishes it
    loaded = load_run(run)
    assert not loaded.torn_tail and len(loaded.chains) == 5
    assert "still being written" not in _page_text(run)


def test_without_a_manifest_the_default_settings_stand_in(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", varied_chains())
    (run / "manifest.json").unlink()
    loaded = load_run(run)
    assert loaded.manifest is None and loaded.config.keep_high == 0.97
    assert "No manifest.json" in _page_text(run)


def test_an_empty_run_still_draws_every_figure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", [])
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page == tmp_path / "r" / "index.html"
    data = compute(load_run(run))
    assert figure_ids(data) == [
        "fig-trajectories",
        "fig-yield",
        "fig-difficulty",
        "fig-rejections",
        "fig-cost",
    ]
    for fig_id in figure_ids(data):
        assert (page.parent / f"{fig_id}.png").stat().st_size > 1000


def test_a_broken_line_inside_the_run_is_named(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", [chain(0, [0.5])])
    with (run / "chains.jsonl").open("ab") as f:
        f.write(b"not json\n")
    with pytest.raises(StoreError, match="line 2"):
        load_run(run)


def test_cli_says_in_one_sentence_what_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 1
    err = capsys.readouterr().err
    assert "has no chains.jsonl" in err and err.count("\n") == 1
    assert not (empty / "report").exists()


def test_a_copied_run_reports_the_same(varied: tuple[Path, Path], tmp_path: Path) -> None:
    run = varied[0]
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("report"))
    assert compute(load_run(copy)) == compute(load_run(run))


def test_a_run_written_before_replies_were_kept_still_reports(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", varied_chains())
    file = run / "chains.jsonl"
    old = re.sub(
        rb',"teacher_reply":"(?:[^"\\]|\\.)*"|,"sandbox_s":[0-9.e-]+', b"", file.read_bytes()
    )
    assert b"teacher_reply" not in old and b"sandbox_s" not in old
    file.write_bytes(old)
    loaded = load_run(run)
    assert all(t.teacher_reply == "" and t.sandbox_s == 0 for c in loaded.chains for t in c.turns)
    assert "no reply recorded" in _page_text(run)
