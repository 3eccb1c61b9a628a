"""stepstones: stepping-stone curricula for RL on code.

A teacher LLM turns real code into problems, a student LLM attempts each problem many times, and
the teacher rewrites it harder or easier until the valid versions form a chain of stepping stones
with measured difficulty. Every grade comes from executing code in the Rust sandbox.
"""

from __future__ import annotations

from stepstones import errors, records

__version__ = "0.1.0"

__all__ = ["__version__", "errors", "records"]
