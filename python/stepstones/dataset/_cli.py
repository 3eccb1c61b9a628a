"""``stepstones export``: measured problems -> one OpenRLHF, verl or TRL training file.

Example::

    stepstones export runs/first --format openrlhf --bins broad --out data/train.jsonl
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from stepstones.dataset._export import CONTAINERS, FORMATS, container_of, write
from stepstones.dataset._select import add_selection_arguments, describe_drops, select, why_empty
from stepstones.errors import ExportError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser, default_bins=None)
    parser.add_argument("--format", required=True, choices=FORMATS, help="trainer to export for")
    containers = "; ".join(f"{fmt}: {' or '.join(ext)}" for fmt, ext in CONTAINERS.items())
    parser.add_argument(
        "--out",
        required=True,
        help=f"output file; its extension picks the container ({containers})",
    )
    parser.add_argument("--split", default="train", help="split name stored in verl's extra_info")


def run(args: argparse.Namespace) -> int:
    container_of(args.format, args.out)  # a name the trainer cannot read fails before reading
    _, grouped, report = select(args)
    items = [(None if name == "all" else name, p) for name, probs in grouped.items() for p in probs]
    if not items:
        raise ExportError(
            f"nothing to export: {why_empty(report, args.input)}; {args.out} was not written"
        )
    n = write(args.format, items, args.out, split=args.split)
    report["written"] = n
    report["out"] = args.out
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(report)).decode() + "\n")
    if report["dropped"]:
        sys.stderr.write(f"stepstones export: dropped {describe_drops(report)}\n")
    return 0
