"""The ``stepstones`` command line.

Each subcommand lives beside the code it drives, in a module exposing ``add_arguments(parser)``
and ``run(args) -> int``; only the chosen one is imported, so ``stepstones doctor`` stays quick.
Subcommands that run locally or on Ray declare their options and build their configs in one
shared place, :mod:`stepstones._cli`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from stepstones.errors import StepstonesError

__all__ = ["COMMANDS", "HelpFormatter", "main", "parser"]

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("stepstones.sandbox._doctor", "report which sandbox isolation layers work here"),
    "generate": ("stepstones.pipeline._cli", "generate chains of stepping-stone problems"),
    "stats": ("stepstones.pipeline._stats_cli", "yield, pass-rate histograms and bins of a run"),
    "show": ("stepstones.pipeline._showcase", "print the best chain of a run, stone by stone"),
    "report": ("stepstones.report._cli", "figures of a run as one HTML page and PNG files"),
    "export": ("stepstones.dataset._cli", "export problems for OpenRLHF, verl or TRL"),
    "curriculum": ("stepstones.dataset._curriculum_cli", "write stage datasets and a launch plan"),
    "serve": ("stepstones.serve._cli", "serve rewards over HTTP (OpenRLHF remote reward protocol)"),
    "online": ("stepstones.online._cli", "the teacher in the loop: stones from the live policy"),
}


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows every option's default: appended as "(default: X)" unless the text
    already says its default, or there is none to show (None, a flag that is off)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)"


def _version() -> str:
    from stepstones import __version__  # noqa: PLC0415 - only for --version

    return f"stepstones {__version__} ({Path(__file__).resolve().parent})"


def _top_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="stepstones",
        description="Stepping-stone curricula for RL on code.",
    )
    top.add_argument("--version", action="version", version=_version())
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return top


def parser(name: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``, exactly as ``main`` builds it (tests use it too)."""
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    out = argparse.ArgumentParser(
        prog=f"stepstones {name}", description=help_text, formatter_class=HelpFormatter
    )
    module.add_arguments(out)
    return out


def _only_stepstones_error(group: BaseExceptionGroup[BaseException]) -> StepstonesError | None:
    """The first StepstonesError of a task group's failure when every leaf is one (a seed the
    source cannot give, a run-directory problem): the user reads its sentence, not a tree."""
    matched, rest = group.split(StepstonesError)
    if matched is None or rest is not None:
        return None
    leaf: BaseException = matched
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf if isinstance(leaf, StepstonesError) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stepstones`` script; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        top = _top_parser()
        if args and not args[0].startswith("-"):
            top.error(f"unknown command {args[0]!r}; choose one of {', '.join(COMMANDS)}")
        top.parse_args(args)
        top.print_help()
        return 0 if args else 2
    name = args[0]
    try:
        sub = parser(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("stepstones"):
            print(f"stepstones {name}: not available in this build ({exc.name})", file=sys.stderr)
            return 2
        raise
    ns = sub.parse_args(args[1:])
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.run(ns))
    except StepstonesError as exc:
        print(f"stepstones {name}: {exc}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as group:
        error = _only_stepstones_error(group)
        if error is None:
            raise
        print(f"stepstones {name}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stepstones {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
