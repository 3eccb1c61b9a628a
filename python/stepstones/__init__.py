"""stepstones: stepping-stone curricula for RL on code.

A teacher LLM turns real code into problems, a student LLM attempts each problem many times, and
the teacher rewrites it harder or easier until the valid versions form a chain of stepping stones
with measured difficulty. Every grade comes from executing code in the Rust sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepstones import errors, records

if TYPE_CHECKING:
    from stepstones.pipeline import generate_chain

__version__ = "0.1.0"

__all__ = ["__version__", "errors", "generate_chain", "records"]


def __getattr__(name: str) -> Any:
    # generate_chain pulls in the LLM client, environments and sandbox: imported on first use
    # so `import stepstones` (and `stepstones doctor`) stays light.
    if name == "generate_chain":
        from stepstones.pipeline import generate_chain  # noqa: PLC0415

        return generate_chain
    raise AttributeError(f"module 'stepstones' has no attribute {name!r}")
