"""``stepstones stats DIR``: yield per turn and per mode, pass-rate histograms, difficulty bins."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from stepstones.errors import StoreError
from stepstones.pipeline._config import Config
from stepstones.pipeline._progress import sparkline
from stepstones.pipeline._stats import HISTOGRAM_BINS, ModeStats, RunStats, compute_stats
from stepstones.pipeline._store import (
    CHAINS_FILE,
    MANIFEST_FILE,
    REJECTIONS_FILE,
    Manifest,
    read_chains,
)

__all__ = ["add_arguments", "render", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by stepstones generate")
    parser.add_argument(
        "--json",
        default=None,
        metavar="FILE",
        help="also write the stats as JSON to FILE, outside the run directory; '-' writes the "
        "JSON to stdout and the report to stderr",
    )


def _config_of(run_dir: Path) -> Config:
    file = run_dir / MANIFEST_FILE
    if not file.exists():
        return Config()
    try:
        return msgspec.json.decode(file.read_bytes(), type=Manifest).config
    except msgspec.DecodeError as exc:
        raise StoreError(f"{str(file)!r} is not a stepstones manifest: {exc}") from exc


def _block(s: ModeStats) -> list[str]:
    lines = [
        f"{s.env} / {s.mode}: {s.chains} chains, {s.turns} turns, {s.measured} measured, "
        f"{s.viable} viable -> yield {s.viable_yield:.1%} viable problems per turn",
        f"  complete chains (every band): {s.complete_chains}/{s.chains}",
        "  per turn:    "
        + "  ".join(
            f"#{t.index} {t.viable}/{t.turns}={t.viable / t.turns:.0%}"
            for t in s.per_turn
            if t.turns
        ),
        f"  pass rates:  [{sparkline(s.histogram)}] "
        + " ".join(str(c) for c in s.histogram)
        + f"  ({HISTOGRAM_BINS} bins over 0..1)",
        "  bands:       " + "  ".join(f"{name} {n}" for name, n in s.bands.items()),
        *(
            f"  {bin_set + ' bins:':<13}" + "  ".join(f"{name} {n}" for name, n in counts.items())
            for bin_set, counts in s.difficulty.items()
        ),
        "  rejections:  "
        + ("  ".join(f"{kind} {n}" for kind, n in s.rejections.items()) or "none"),
        *(
            f"    {r.count:>4} x {r.kind}: {r.pattern}"
            + (f"  e.g. {_clip(r.example)!r}" if r.example != r.pattern else "")
            for r in s.top_reasons
        ),
        f"  tokens:      {s.prompt_tokens} prompt, {s.completion_tokens} completion",
    ]
    return lines


def _clip(text: str, chars: int = 100) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= chars else first[: chars - 1] + "…"


def render(stats: RunStats, run_dir: Path | None = None) -> str:
    """The human-readable report; ``run_dir`` names where every rejection is kept."""
    if not stats.chains:
        return "no chains stored yet"
    lines = [f"{stats.chains} chains"]
    for s in stats.by_mode:
        lines += _block(s)
    if len(stats.by_env_mode) > len(stats.by_mode):
        lines.append("")
        for s in stats.by_env_mode:
            lines += _block(s)
    if run_dir is not None and any(s.rejections for s in stats.by_mode):
        lines.append(f"every rejected turn, with its reason and draft: {run_dir / REJECTIONS_FILE}")
    single = {s.mode: s for s in stats.by_mode}.get("single_turn")
    if single is not None and single.viable_yield > 0:
        for s in stats.by_mode:
            if s.mode != "single_turn":
                ratio = s.viable_yield / single.viable_yield
                lines.append(f"{s.mode} yield / single_turn yield: {ratio:.2f}x")
    return "\n".join(lines)


def _json_target(option: str, run_dir: Path) -> Path | None:
    """Where --json goes (None: stdout); refuses the run directory, anything inside it, and
    any directory: a read-only command never writes over the run it reads."""
    if option == "-":
        return None
    target = Path(option)
    resolved, run = target.resolve(), run_dir.resolve()
    if resolved == run or run in resolved.parents:
        raise StoreError(
            f"--json {option!r} is inside the run directory {str(run_dir)!r}, which stats only "
            "reads: write the JSON elsewhere, or pass --json - for stdout"
        )
    if target.is_dir():
        raise StoreError(f"--json {option!r} is a directory: give a file name, or - for stdout")
    return target


def run(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not (run_dir / CHAINS_FILE).exists():
        raise StoreError(
            f"{str(run_dir)!r} has no {CHAINS_FILE}: is it a stepstones run directory?"
        )
    target = _json_target(args.json, run_dir) if args.json is not None else None
    stats = compute_stats(read_chains(run_dir), _config_of(run_dir))
    encoded = msgspec.json.format(msgspec.json.encode(stats)) + b"\n"
    if args.json == "-":
        sys.stderr.write(render(stats, run_dir) + "\n")
        sys.stdout.write(encoded.decode())
        return 0
    sys.stdout.write(render(stats, run_dir) + "\n")
    if target is not None:
        try:
            target.write_bytes(encoded)
        except OSError as exc:
            raise StoreError(f"cannot write --json {str(target)!r}: {exc.strerror or exc}") from exc
    return 0
