"""``stepstones export``: measured problems -> one OpenRLHF, verl or TRL training file.

Example::

    stepstones export runs/demo --format openrlhf --bins broad --mix all=5000 --out data/train.jsonl
"""

from __future__ import annotations

import argparse
import sys

import msgspec

from stepstones.dataset._export import FORMATS, write
from stepstones.dataset._select import add_selection_arguments, select

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser, default_bins=None)
    parser.add_argument("--format", required=True, choices=FORMATS, help="trainer to export for")
    parser.add_argument("--out", required=True, help="output file (.jsonl; .parquet for verl)")
    parser.add_argument("--split", default="train", help="split name stored in verl's extra_info")


def run(args: argparse.Namespace) -> int:
    _, grouped, report = select(args)
    items = [(None if name == "all" else name, p) for name, probs in grouped.items() for p in probs]
    n = write(args.format, items, args.out, split=args.split)
    report["written"] = n
    report["out"] = args.out
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(report)).decode() + "\n")
    return 0
