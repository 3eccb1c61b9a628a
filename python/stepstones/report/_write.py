"""``write_report``: load a run, compute the figures' data, draw them, write the page.

::

    <out>/
        index.html         the self-contained page (figures embedded)
        fig-*.png          each figure of the page as its own file
        data.json          the data every figure and table was drawn from
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
from matplotlib.figure import Figure

from stepstones.errors import StoreError
from stepstones.report._compute import ReportData, compute
from stepstones.report._figures import (
    cost_figure,
    difficulty_figure,
    example_figure,
    png,
    rejections_figure,
    trajectories_figure,
    yield_figure,
)
from stepstones.report._load import Run, load_run
from stepstones.report._page import figure_ids, render

__all__ = ["PAGE", "REPORT_DIR", "figures", "write_report"]

#: Where a report goes when no ``out`` is given: inside the run directory.
REPORT_DIR = "report"
PAGE = "index.html"


def figures(run: Run, data: ReportData) -> dict[str, Figure]:
    """Every figure of the page by its id (:func:`._page.figure_ids`), in page order."""
    drawn = {
        "fig-trajectories": trajectories_figure(data.trajectories, run.config),
        **{
            f"fig-example-{i}": example_figure(t, run.config, i)
            for i, t in enumerate(data.examples, 1)
        },
        "fig-yield": yield_figure(data.yields),
        "fig-difficulty": difficulty_figure(data.difficulty),
        "fig-rejections": rejections_figure(data.rejection_counts),
        "fig-cost": cost_figure(data.costs),
    }
    assert list(drawn) == figure_ids(data)
    return drawn


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_report(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """Write the report of ``run_dir`` into ``out`` (default ``<run_dir>/report``) and return
    the path of its page. Raises StoreError for a directory that is not a run or an ``out``
    that cannot be written."""
    run = load_run(run_dir)
    data = compute(run)
    target = Path(out) if out is not None else run.path / REPORT_DIR
    images = {fig_id: png(fig) for fig_id, fig in figures(run, data).items()}
    try:
        target.mkdir(parents=True, exist_ok=True)
        for fig_id, image in images.items():
            _replace(target / f"{fig_id}.png", image)
        _replace(target / "data.json", msgspec.json.format(msgspec.json.encode(data)) + b"\n")
        _replace(target / PAGE, render(run, data, images).encode("utf-8"))
    except OSError as exc:
        raise StoreError(f"cannot write the report into {str(target)!r}: {exc}") from exc
    return target / PAGE
