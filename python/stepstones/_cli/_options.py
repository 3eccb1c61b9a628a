"""Option types more than one subcommand takes (light: no pipeline, sandbox or LLM import)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from stepstones.records import ENVIRONMENTS

__all__ = ["choices", "env_list"]


def choices(text: str, allowed: Sequence[str], what: str) -> list[str]:
    """A comma-separated list of names from ``allowed``, in order, without repeats."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"{what} must be a comma-separated list of {', '.join(allowed)}; got {text!r}"
        )
    return list(dict.fromkeys(items))


def env_list(text: str) -> list[str]:
    """``--env induction,deduction``: environments, as ``generate`` and ``export`` take them."""
    return choices(text, ENVIRONMENTS, "--env")
