"""Re-export of :func:`stepstones.llm.check_endpoint`, which lives with the LLM client (every
run checks its endpoints, on one machine or on Ray); kept so ``stepstones.distributed``'s
callers and imports keep working."""

from __future__ import annotations

from stepstones.llm._preflight import check_endpoint

__all__ = ["check_endpoint"]
