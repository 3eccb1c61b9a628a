"""``stepstones report RUN_DIR [--out DIR]``: the figures of a run as one HTML page and PNGs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stepstones.errors import ConfigError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Draw a run: stepping-stone trajectories, yield per turn and mode with confidence "
        "intervals, pass-rate histograms against the paper's bins, rejections with an example "
        "each, and cost per viable problem. Writes one self-contained HTML page plus each "
        "figure as a PNG. Works on a run still being written and on a run grown on Ray."
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by stepstones generate")
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default RUN_DIR/report)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        from stepstones.report import write_report  # noqa: PLC0415 - matplotlib is an extra
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("matplotlib"):
            raise
        raise ConfigError(
            "stepstones report needs matplotlib: pip install 'stepstones[report]'"
        ) from exc
    page = write_report(args.run_dir, args.out)
    sys.stdout.write(f"{page}\n")
    return 0
