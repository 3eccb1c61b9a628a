"""``stepstones doctor``: which sandbox isolation layers work on this kernel, as this user."""

from __future__ import annotations

import argparse
import sys

import msgspec

from stepstones.errors import SandboxError
from stepstones.sandbox._engine import Sandbox
from stepstones.sandbox._types import LAYERS, Capabilities, Script

__all__ = ["add_arguments", "report", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the capability report as JSON")


def report(caps: Capabilities, probe_ok: bool) -> str:
    """The human-readable report: one line per layer, then the verdict."""
    notes = dict(note.split(": ", 1) for note in caps.notes if ": " in note)
    lines = [f"sandbox isolation ({'root' if caps.running_as_root else 'unprivileged'} user)"]
    for layer in LAYERS:
        mark = "on " if caps.has(layer) else "off"
        extra = f"ABI {caps.landlock_abi}" if layer == "landlock" and caps.landlock_abi else ""
        extra = extra or notes.get(layer, "")
        lines.append(f"  [{mark}] {layer:<18} {extra}".rstrip())
    if caps.missing:
        lines.append("required layers missing: " + ", ".join(caps.missing))
        lines.append("the sandbox refuses to start here unless allow_weaker=True")
    else:
        lines.append("every required layer is available: the sandbox starts fail-closed")
    lines.append(f"test job: {'ok' if probe_ok else 'FAILED'}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        sandbox = Sandbox(workers=1, allow_weaker=True)
    except SandboxError as exc:
        print(f"the sandbox cannot start here: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    with sandbox:
        caps = sandbox.capabilities
        outcome = sandbox.run_batch([Script(source="print(6 * 7)")])[0]
    probe_ok = outcome.ok and outcome.stdout == "42\n"
    if args.json:
        print(msgspec.json.encode(caps).decode())  # noqa: T201
    else:
        print(report(caps, probe_ok))  # noqa: T201
    return 0 if probe_ok and not caps.missing else 1
