"""The selection steps the ``export`` and ``curriculum`` commands share: read, keep-filter,
environment filter, environment mix, bin and cap. One function per step, applied in order."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence

from stepstones.dataset._bins import KEEP_HIGH, KEEP_LOW, BinSet, balance, keep_for_rl, parse_bins
from stepstones.dataset._curriculum import mix
from stepstones.dataset._read import read_problems
from stepstones.errors import ConfigError
from stepstones.records import ENVIRONMENTS, Env, Problem

__all__ = ["add_selection_arguments", "parse_mix", "select"]


def add_selection_arguments(parser: argparse.ArgumentParser, *, default_bins: str | None) -> None:
    parser.add_argument(
        "input", help="run directory (chains.jsonl) or JSONL of chain/problem records"
    )
    parser.add_argument(
        "--bins",
        default=default_bins,
        help="bin set: chain, broad, or custom 'name=low:high,...'"
        + ("" if default_bins else " (default: no binning)"),
    )
    parser.add_argument(
        "--keep-low", type=float, default=KEEP_LOW, help="RL keep-filter lower bound"
    )
    parser.add_argument(
        "--keep-high", type=float, default=KEEP_HIGH, help="RL keep-filter upper bound"
    )
    parser.add_argument(
        "--no-keep-filter",
        action="store_true",
        help="keep unmeasured and 0/1 pass-rate problems too",
    )
    parser.add_argument(
        "--env", action="append", choices=ENVIRONMENTS, help="only these environments"
    )
    parser.add_argument(
        "--mix",
        default=None,
        help="environment mix, e.g. induction=5000,deduction=5000 (or all=5000)",
    )
    parser.add_argument("--cap-per-bin", type=int, default=None, help="at most N problems per bin")
    parser.add_argument(
        "--cap-per-env", type=int, default=None, help="at most N problems per bin and environment"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")


def parse_mix(spec: str) -> dict[Env, int]:
    """``induction=5000,deduction=5000`` or ``all=5000`` (every environment)."""
    out: dict[Env, int] = {}
    for part in spec.split(","):
        name, sep, n = part.partition("=")
        name = name.strip()
        try:
            count = int(n)
        except ValueError:
            count = -1
        if not sep or count < 0 or (name not in ENVIRONMENTS and name != "all"):
            raise ConfigError(
                f"bad mix entry {part!r}: use env=count with env in {', '.join(ENVIRONMENTS)} "
                "or all, e.g. 'induction=5000,deduction=5000'"
            )
        for env in ENVIRONMENTS if name == "all" else (name,):
            out[env] = count  # type: ignore[index]
    return out


def select(
    args: argparse.Namespace,
) -> tuple[BinSet | None, dict[str, list[Problem]], dict[str, object]]:
    """Apply the selection steps; returns the bin set, problems by bin ("all" when unbinned)
    and a report of how many problems each step kept."""
    problems: Sequence[Problem] = read_problems(args.input)
    report: dict[str, object] = {"read": len(problems)}
    if not args.no_keep_filter:
        problems = [
            p for p in problems if keep_for_rl(p.pass_rate, low=args.keep_low, high=args.keep_high)
        ]
        report["kept_for_rl"] = len(problems)
    if args.env:
        problems = [p for p in problems if p.env in args.env]
        report["in_envs"] = len(problems)
    if args.mix:
        problems = mix(problems, parse_mix(args.mix), seed=args.seed)
        report["mixed"] = len(problems)
    bins = parse_bins(args.bins) if args.bins else None
    if bins is None:
        if args.cap_per_bin or args.cap_per_env:
            raise ConfigError("--cap-per-bin/--cap-per-env need --bins")
        grouped = {"all": list(problems)}
    else:
        grouped = balance(
            problems,
            bins,
            cap_per_bin=args.cap_per_bin,
            cap_per_env=args.cap_per_env,
            seed=args.seed,
        )
    report["per_bin"] = {k: len(v) for k, v in grouped.items()}
    report["per_env"] = dict(Counter(p.env for v in grouped.values() for p in v))
    return bins, grouped, report
