"""The selection steps the ``export`` and ``curriculum`` commands share: read, keep-filter,
environment filter, environment mix, bin and cap. One function per step, applied in order."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence

from stepstones._cli._options import env_list
from stepstones.dataset._bins import BIN_SETS, KEEP_HIGH, KEEP_LOW, BinSet, balance, parse_bins
from stepstones.dataset._curriculum import mix
from stepstones.dataset._read import read_problems
from stepstones.errors import ConfigError
from stepstones.records import ENVIRONMENTS, Env, Problem

__all__ = [
    "add_selection_arguments",
    "check_keep_bounds",
    "describe_drops",
    "parse_mix",
    "select",
    "why_empty",
]


def add_selection_arguments(parser: argparse.ArgumentParser, *, default_bins: str | None) -> None:
    parser.add_argument(
        "input", help="run directory (chains.jsonl) or JSONL of chain/problem records"
    )
    ranges = "; ".join(
        f"{name}: " + ", ".join(f"{b.name} {b.low:g}-{b.high:g}" for b in bins.bins)
        for name, bins in BIN_SETS.items()
    )
    parser.add_argument(
        "--bins",
        default=default_bins,
        help=f"bin set by measured pass rate: a preset ({ranges}) or custom "
        "'name=low:high,...'; a problem between a set's bins is dropped and counted"
        + ("" if default_bins else " (default: no binning)"),
    )
    parser.add_argument(
        "--keep-low",
        type=float,
        default=KEEP_LOW,
        help="RL keep-filter: drop problems with a pass rate below this, in 0..1",
    )
    parser.add_argument(
        "--keep-high",
        type=float,
        default=KEEP_HIGH,
        help="RL keep-filter: drop problems with a pass rate above this, in 0..1",
    )
    parser.add_argument(
        "--no-keep-filter",
        action="store_true",
        help="keep unmeasured and 0/1 pass-rate problems too",
    )
    parser.add_argument(
        "--env",
        type=env_list,
        action="extend",
        default=None,
        help="only these environments, comma-separated or repeated: "
        f"{', '.join(ENVIRONMENTS)} (default: all)",
    )
    parser.add_argument(
        "--mix",
        default=None,
        help="environment mix, e.g. induction=5000,deduction=5000 (or all=5000)",
    )
    parser.add_argument(
        "--cap-per-bin", type=int, default=None, help="at most N problems per bin (default: no cap)"
    )
    parser.add_argument(
        "--cap-per-env",
        type=int,
        default=None,
        help="at most N problems per bin and environment (default: no cap)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")


def check_keep_bounds(low: float, high: float) -> None:
    """Refuse a keep-filter that keeps nothing or is not a pass rate."""
    for name, value in (("--keep-low", low), ("--keep-high", high)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} is a pass rate in 0..1, got {value}")
    if low > high:
        raise ConfigError(
            f"--keep-low {low} is above --keep-high {high}: no pass rate can pass that filter"
        )


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


def _rate_drop(pass_rate: float | None, low: float, high: float) -> str | None:
    if pass_rate is None:
        return "unmeasured"
    if pass_rate < low:
        return f"pass rate below --keep-low {low:g}"
    if pass_rate > high:
        return f"pass rate above --keep-high {high:g}"
    return None


def select(
    args: argparse.Namespace,
) -> tuple[BinSet | None, dict[str, list[Problem]], dict[str, object]]:
    """Apply the selection steps; returns the bin set, problems by bin ("all" when unbinned)
    and a report of how many problems each step kept and, in ``dropped``, how many were
    dropped for each reason."""
    if not args.no_keep_filter:
        check_keep_bounds(args.keep_low, args.keep_high)
    bins = parse_bins(args.bins) if args.bins else None
    if bins is None and (args.cap_per_bin or args.cap_per_env):
        raise ConfigError("--cap-per-bin/--cap-per-env need --bins")
    problems: Sequence[Problem] = read_problems(args.input)
    report: dict[str, object] = {"read": len(problems)}
    dropped: Counter[str] = Counter()
    if not args.no_keep_filter:
        kept = []
        for p in problems:
            reason = _rate_drop(p.pass_rate, args.keep_low, args.keep_high)
            if reason is None:
                kept.append(p)
            else:
                dropped[reason] += 1
        problems = kept
        report["kept_for_rl"] = len(problems)
    if args.env:
        dropped["not in --env"] += sum(1 for p in problems if p.env not in args.env)
        problems = [p for p in problems if p.env in args.env]
        report["in_envs"] = len(problems)
    if args.mix:
        before = len(problems)
        problems = mix(problems, parse_mix(args.mix), seed=args.seed)
        dropped["left out of --mix"] += before - len(problems)
        report["mixed"] = len(problems)
    if bins is None:
        grouped = {"all": list(problems)}
    else:
        between = sum(1 for p in problems if bins.assign(p.pass_rate) is None)
        dropped[f"pass rate between the {bins.name} bins"] += between
        grouped = balance(
            problems,
            bins,
            cap_per_bin=args.cap_per_bin,
            cap_per_env=args.cap_per_env,
            seed=args.seed,
        )
        dropped["over --cap-per-bin/--cap-per-env"] += (
            len(problems) - between - sum(len(v) for v in grouped.values())
        )
    report["per_bin"] = {k: len(v) for k, v in grouped.items()}
    report["per_env"] = dict(Counter(p.env for v in grouped.values() for p in v))
    report["dropped"] = {k: n for k, n in dropped.most_common() if n}
    return bins, grouped, report


def why_empty(report: dict[str, object], source: str) -> str:
    """Why a selection came out empty, in words: no problem at all in ``source`` (every turn
    rejected, as with a small teacher), or how many were dropped for each reason."""
    if not report["read"]:
        return (
            f"{source} holds no valid problem yet (every teacher turn was rejected or nothing "
            f"was generated; `stepstones stats {source}` shows why)"
        )
    return f"of {report['read']} problems, {describe_drops(report)}"


def describe_drops(report: dict[str, object]) -> str:
    """``dropped`` of a selection report in words: "3 unmeasured, 2 pass rate above ..."."""
    dropped = report.get("dropped") or {}
    assert isinstance(dropped, dict)
    return ", ".join(f"{n} {reason}" for reason, n in dropped.items()) or "none dropped"
