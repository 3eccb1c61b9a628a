"""The progression policy (docs/design.md §2 step 5) and the stop rule (step 6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepstones.pipeline import Config, is_complete, missing_bands, next_instruction

CFG = Config()


@pytest.mark.parametrize("p", [0.66, 0.8, 1.0])
def test_high_pass_rate_asks_harder(p: float) -> None:
    assert next_instruction(p, [p], CFG) == "harder"


def test_zero_pass_rate_asks_easier() -> None:
    assert next_instruction(0.0, [0.0], CFG) == "easier"


def test_fill_moves_towards_the_nearest_missing_band() -> None:
    # 0.5 is medium; hard (0.05-0.16) and easy (0.81-0.91) are missing; easy's centre 0.86 is
    # 0.36 away, hard's 0.105 is 0.395 away -> easier.
    assert next_instruction(0.5, [0.5], CFG) == "easier"
    # Once easy is covered, only hard is missing -> harder.
    assert next_instruction(0.5, [0.85, 0.5], CFG) == "harder"
    # 0.3 with nothing covered: hard centre 0.105 is nearest -> harder.
    assert next_instruction(0.3, [0.3], CFG) == "harder"
    # Every band covered: a sibling.
    assert next_instruction(0.5, [0.1, 0.5, 0.85], CFG) == "sibling"


@pytest.mark.parametrize("between", ["harder", "easier", "sibling"])
def test_fixed_strategies(between: str) -> None:
    cfg = Config(between=between)  # type: ignore[arg-type]
    assert next_instruction(0.4, [0.4], cfg) == between
    assert next_instruction(0.9, [0.9], cfg) == "harder"
    assert next_instruction(0.0, [0.0], cfg) == "easier"


def test_stop_rule_needs_every_band() -> None:
    assert not is_complete([], CFG)
    assert not is_complete([0.1, 0.5], CFG)
    assert missing_bands([0.1, 0.5], CFG) == ["easy"]
    assert is_complete([0.1, 0.5, 0.85], CFG)
    # No bands configured: never complete, the turn budget decides.
    assert not is_complete([0.5], Config(bands={}))


@given(st.floats(0.0, 1.0), st.lists(st.floats(0.0, 1.0), max_size=6))
def test_policy_is_total_and_respects_thresholds(p: float, others: list[float]) -> None:
    got = next_instruction(p, [*others, p], CFG)
    assert got in ("harder", "easier", "sibling")
    if p > CFG.harder_above:
        assert got == "harder"
    if p == 0.0:
        assert got == "easier"
