"""Difficulty bins, the RL keep-filter and balancing."""

from __future__ import annotations

from collections import Counter

import pytest
from _dataset_problems import make_problem
from hypothesis import given
from hypothesis import strategies as st

from stepstones.dataset import (
    BROAD_BINS,
    CHAIN_BINS,
    Bin,
    BinSet,
    balance,
    keep_for_rl,
    parse_bins,
)
from stepstones.errors import ConfigError


@pytest.mark.parametrize(
    ("p", "chain", "broad"),
    [
        (26 / 32, "easy", "easy_medium"),  # 0.8125
        (0.91, "easy", "easy"),
        (0.97, None, "easy"),  # broad easy's top edge is inclusive (nothing starts there)
        (0.85, "easy", "easy"),  # a shared edge belongs to the bin that starts there
        (0.61, None, "easy_medium"),
        (0.5, "medium", "medium"),
        (0.59, "medium", "medium"),
        (0.26, None, "medium"),
        (0.2, None, "hard"),
        (0.10, "hard", "hard"),
        (0.05, "hard", None),
        (0.04, None, None),
        (0.0, None, None),
        (1.0, None, None),
        (None, None, None),
    ],
)
def test_presets_assign_the_papers_bins(
    p: float | None, chain: str | None, broad: str | None
) -> None:
    assert CHAIN_BINS.assign(p) == chain
    assert BROAD_BINS.assign(p) == broad


@given(st.floats(min_value=0.0, max_value=1.0))
def test_an_assigned_rate_lies_within_its_bin(p: float) -> None:
    for bins in (CHAIN_BINS, BROAD_BINS):
        name = bins.assign(p)
        if name is not None:
            b = bins.bin(name)
            assert b.low <= p <= b.high
        else:
            assert all(not (b.low <= p < b.high) for b in bins.bins)


def test_custom_bins_parse_and_validate() -> None:
    bins = parse_bins("easy=0.8:0.95, hard=0.05:0.2")
    assert bins.names == ("easy", "hard")
    assert bins.assign(0.9) == "easy"
    assert parse_bins("broad") is BROAD_BINS
    with pytest.raises(ConfigError, match="overlap"):
        parse_bins("a=0.1:0.5,b=0.4:0.9")
    with pytest.raises(ConfigError, match="name=low:high"):
        parse_bins("easy=0.8")
    with pytest.raises(ConfigError, match="low < high"):
        BinSet("x", (Bin("a", 0.5, 0.5),))
    with pytest.raises(ConfigError, match="repeats"):
        BinSet("x", (Bin("a", 0.1, 0.2), Bin("a", 0.3, 0.4)))


def test_keep_filter_bounds() -> None:
    assert not keep_for_rl(None)
    assert not keep_for_rl(0.0)
    assert keep_for_rl(0.01)
    assert keep_for_rl(1 / 32)
    assert keep_for_rl(0.97)
    assert keep_for_rl(31 / 32)  # 0.96875
    assert not keep_for_rl(1.0)
    assert keep_for_rl(0.5, low=0.4, high=0.6)
    assert not keep_for_rl(0.3, low=0.4, high=0.6)


def _pool() -> list:
    probs = []
    for k in range(60):
        env = ("deduction", "induction", "abduction")[k % 3]
        rate = (0.9, 0.5, 0.2)[k % 2]
        probs.append(make_problem(k, rate, env))  # type: ignore[arg-type]
    return probs


def test_balance_groups_by_bin_and_caps_per_env_and_bin() -> None:
    grouped = balance(_pool(), BROAD_BINS)
    assert {k: len(v) for k, v in grouped.items()} == {
        "easy": 30,
        "easy_medium": 0,
        "medium": 30,
        "hard": 0,
    }
    capped = balance(_pool(), BROAD_BINS, cap_per_env=4)
    assert Counter(p.env for p in capped["easy"]) == {
        "deduction": 4,
        "induction": 4,
        "abduction": 4,
    }
    capped = balance(_pool(), BROAD_BINS, cap_per_bin=7)
    assert len(capped["easy"]) == 7
    # Round-robin over environments: a cap does not starve one of them.
    assert max(Counter(p.env for p in capped["easy"]).values()) == 3
    assert balance(_pool(), BROAD_BINS, cap_per_bin=7, seed=1) == balance(
        _pool(), BROAD_BINS, cap_per_bin=7, seed=1
    )
    assert balance(_pool(), BROAD_BINS, cap_per_bin=7, seed=1) != balance(
        _pool(), BROAD_BINS, cap_per_bin=7, seed=2
    )
    with pytest.raises(ConfigError, match="cap_per_bin"):
        balance(_pool(), BROAD_BINS, cap_per_bin=0)
