"""Probe files of the hostile corpus: where they are and what their comment headers declare."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from stepstones.sandbox import Limits

HOSTILE_DIR = Path(__file__).parent
#: Every probe: the programs in this folder (``_``-prefixed modules are the test's helpers).
PROBE_PATHS = sorted(p for p in HOSTILE_DIR.glob("*.py") if not p.name.startswith("_"))
STATUSES = {
    "ok",
    "runtime_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "denied_syscall",
    "signal",
}


@dataclass(frozen=True)
class Probe:
    name: str
    source: str
    description: str
    expect: frozenset[str]
    effects: tuple[str, ...]
    function: str | None = None
    args: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    stdout: str | None = None
    values: tuple[str | None, ...] | None = None
    #: Machines (``platform.machine()``) the probe knows raw syscall numbers for; empty: any.
    arches: tuple[str, ...] = ()


def load_probe(path: Path, known_effects: Collection[str]) -> Probe:
    """Parse a probe file's comment header; reject unknown keys, statuses and effects."""
    source = path.read_text()
    header: dict[str, str] = {}
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].strip().partition(":")
        if sep and key in {
            "probe",
            "expect",
            "effect",
            "call",
            "args",
            "limits",
            "stdout",
            "values",
            "arch",
        }:
            header[key] = value.strip()
    missing = {"probe", "expect", "effect"} - header.keys()
    assert not missing, f"{path.name}: header lacks {sorted(missing)}"
    expect = frozenset(s.strip() for s in header["expect"].split(","))
    assert expect <= STATUSES, f"{path.name}: unknown statuses {sorted(expect - STATUSES)}"
    effects = tuple(e.strip() for e in header["effect"].split(","))
    unknown = set(effects) - set(known_effects)
    assert not unknown, f"{path.name}: unknown effects {sorted(unknown)}"
    limit_fields: dict[str, Any] = {}
    for item in header.get("limits", "").split():
        key, _, value = item.partition("=")
        limit_fields[key] = json.loads(value)
    return Probe(
        name=path.stem,
        source=source,
        description=header["probe"],
        expect=expect,
        effects=effects,
        function=header.get("call"),
        args=tuple(json.loads(header.get("args", "[]"))),
        limits=msgspec.convert(limit_fields, Limits),
        stdout=header.get("stdout"),
        values=tuple(json.loads(header["values"])) if "values" in header else None,
        arches=tuple(header.get("arch", "").split()),
    )
