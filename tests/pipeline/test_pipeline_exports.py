"""The public surface of stepstones.pipeline, and the top-level generate_chain."""

from __future__ import annotations

import stepstones
from stepstones import pipeline


def test_all_is_sorted_and_complete() -> None:
    assert pipeline.__all__ == sorted(pipeline.__all__, key=lambda n: (not n.isupper(), n))
    for name in pipeline.__all__:
        assert getattr(pipeline, name) is not None
    public = {n for n in vars(pipeline) if not n.startswith("_") and n != "annotations"}
    assert public - set(pipeline.__all__) == set()


def test_generate_chain_is_exported_at_the_top() -> None:
    assert "generate_chain" in stepstones.__all__
    assert stepstones.generate_chain is pipeline.generate_chain
