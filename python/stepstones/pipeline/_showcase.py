"""``stepstones show RUN``: the best chain of a run as text, stone by stone.

What a newcomer came to see after ``make demo``: each measured problem (a *stone*) of the chain
with its message, its ``f``, the student's measured pass rate, and what the teacher changed on
the way to the next stone (a unified diff of ``f`` and of the message), then the commands to
run next. The best chain is the one with the most distinct pass rates among its viable stones,
then the most viable stones, then the most stones (ties: the first stored). A stone is viable
when its pass rate passes the run's RL keep-filter (``Config.is_viable``).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterable
from pathlib import Path

from stepstones.errors import ConfigError
from stepstones.pipeline._config import Config
from stepstones.pipeline._stats_cli import _config_of
from stepstones.pipeline._store import CHAINS_FILE, read_chains
from stepstones.records import Chain, Problem, Turn

__all__ = ["add_arguments", "best_chain", "chain_score", "render_chain", "run"]

#: Input/output pairs shown per stone (the rest are summarized by a count).
_SHOWN_PAIRS = 3
_RULE = "-" * 72


def _stones(chain: Chain) -> list[tuple[Turn, Problem]]:
    return [
        (turn, turn.problem)
        for turn in chain.turns
        if turn.problem is not None and turn.problem.pass_rate is not None
    ]


def chain_score(chain: Chain, config: Config) -> tuple[int, int, int]:
    """(distinct viable pass rates, viable stones, stones): larger is a better showcase."""
    stones = [p for _, p in _stones(chain)]
    viable = [p for p in stones if config.is_viable(p.pass_rate)]
    return len({p.pass_rate for p in viable}), len(viable), len(stones)


def best_chain(chains: Iterable[Chain], config: Config) -> Chain | None:
    """The chain to show (see the module docstring); None when no chain has a stone."""
    best: Chain | None = None
    best_score = (0, 0, 0)
    for chain in chains:
        score = chain_score(chain, config)
        if score > best_score:
            best, best_score = chain, score
    return best


def _rate(problem: Problem) -> str:
    rate = problem.pass_rate or 0.0
    passed = round(rate * problem.n_attempts)
    return f"{passed}/{problem.n_attempts} attempts passed (pass rate {rate:.2f})"


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line.strip() else line for line in text.rstrip().split("\n"))


def _diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(
        old.rstrip().split("\n"),
        new.rstrip().split("\n"),
        fromfile=f"{name} (before)",
        tofile=f"{name} (after)",
        lineterm="",
        n=1,
    )
    return "\n".join(lines)


def _stone(index: int, turn: Turn, problem: Problem, config: Config) -> list[str]:
    viable = "viable" if config.is_viable(problem.pass_rate) else "not viable for RL"
    out = [
        f"Stone {index} (turn {turn.index + 1}, asked for: {turn.instruction}): "
        f"{_rate(problem)}, {viable}"
    ]
    if problem.message:
        out += ["  message:", _indent(problem.message)]
    out += ["  f:", _indent(problem.code)]
    pairs = [
        f"f({i}) == {o}"
        for i, o in zip(problem.inputs[:_SHOWN_PAIRS], problem.outputs, strict=False)
    ]
    more = len(problem.inputs) - len(pairs)
    out += ["  inputs and outputs (computed by running f):", _indent("\n".join(pairs))]
    if more > 0:
        out.append(f"    ... and {more} more")
    return out


def _change(old: Problem, new: Problem) -> list[str]:
    out = ["  What the teacher changed:"]
    code = _diff(old.code, new.code, "f")
    out.append(_indent(code) if code else "    f unchanged")
    if old.message != new.message:
        out.append(_indent(_diff(old.message, new.message, "message")))
    if old.inputs != new.inputs:
        out.append("    (new inputs)")
    return out


def render_chain(chain: Chain, config: Config, run_dir: Path | None = None) -> str:
    """The chain stone by stone, with the changes between stones (see the module docstring)."""
    stones = _stones(chain)
    where = f"{chain.seed.source}:{chain.seed.start_line}-{chain.seed.end_line}"
    rejected = sum(1 for t in chain.turns if t.rejection is not None)
    out = [
        _RULE,
        f"Best chain: {chain.env}, {chain.mode}, seed {where}",
        f"{len(chain.turns)} teacher turns: {len(stones)} measured problems, {rejected} rejected",
        _RULE,
    ]
    previous: Problem | None = None
    for n, (turn, problem) in enumerate(stones, 1):
        if previous is not None:
            out += [*_change(previous, problem), ""]
        out += [*_stone(n, turn, problem, config), ""]
        previous = problem
    if run_dir is not None:
        out += [_RULE, *next_steps(run_dir)]
    return "\n".join(out).rstrip() + "\n"


def next_steps(run_dir: Path) -> list[str]:
    """The commands to run next on ``run_dir``."""
    return [
        "Next:",
        f"  stepstones stats {run_dir}                 # yield, pass-rate histogram, bins",
        f"  stepstones export {run_dir} --format trl --out {run_dir / 'trl.jsonl'}"
        "   # RL training data (also openrlhf, verl)",
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print the best chain of a run directory as text: each stone's message, f and measured "
        "pass rate, and what the teacher changed between stones."
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by stepstones generate")


def run(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not (run_dir / CHAINS_FILE).is_file():
        raise ConfigError(
            f"{run_dir} is not a run directory (no {CHAINS_FILE}); grow one with stepstones "
            "generate --out DIR"
        )
    config = _config_of(run_dir)
    chains = list(read_chains(run_dir))
    chain = best_chain(chains, config)
    if chain is None:
        why = (
            "no chain was finished"
            if not chains
            else f"{len(chains)} chains, every teacher turn rejected; see the reasons in "
            f"{run_dir / 'rejections.jsonl'}"
        )
        sys.stdout.write(f"No chain in {run_dir} has a measured problem yet ({why}).\n")
        sys.stdout.write("\n".join(next_steps(run_dir)) + "\n")
        return 1
    sys.stdout.write(render_chain(chain, config, run_dir))
    return 0
