"""The ``stepstones`` command line.

Each subcommand lives beside the code it drives, in a module exposing ``add_arguments(parser)``
and ``run(args) -> int``; only the chosen one is imported, so ``stepstones doctor`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from stepstones.errors import StepstonesError

__all__ = ["main"]

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("stepstones.sandbox._doctor", "report which sandbox isolation layers work here"),
    "generate": ("stepstones.pipeline._cli", "generate chains of stepping-stone problems"),
    "stats": ("stepstones.pipeline._stats_cli", "yield, pass-rate histograms and bins of a run"),
    "report": ("stepstones.report._cli", "figures of a run as one HTML page and PNG files"),
    "export": ("stepstones.dataset._cli", "export problems for OpenRLHF, verl or TRL"),
    "curriculum": ("stepstones.dataset._curriculum_cli", "write stage datasets and a launch plan"),
    "serve": ("stepstones.serve._cli", "serve rewards over HTTP (OpenRLHF remote reward protocol)"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepstones",
        description="Stepping-stone curricula for RL on code.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stepstones`` script; returns the process exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        parser = _top_parser()
        if args and not args[0].startswith("-"):
            parser.error(f"unknown command {args[0]!r}; choose one of {', '.join(COMMANDS)}")
        parser.parse_args(args)
        parser.print_help()
        return 0 if args else 2
    name = args[0]
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.startswith("stepstones"):
            print(f"stepstones {name}: not available in this build ({exc.name})", file=sys.stderr)
            return 2
        raise
    parser = argparse.ArgumentParser(prog=f"stepstones {name}", description=help_text)
    module.add_arguments(parser)
    ns = parser.parse_args(args[1:])
    try:
        return int(module.run(ns))
    except StepstonesError as exc:
        print(f"stepstones {name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"stepstones {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
