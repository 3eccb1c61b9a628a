"""The figures' data, checked against the records it came from (hand-built chains)."""

from __future__ import annotations

import math

import msgspec
import pytest
from _report_runs import CONFIG, HOSTILE_REPLY, chain, varied_chains
from hypothesis import given
from hypothesis import strategies as st

from stepstones.records import Turn
from stepstones.report import (
    REPLY_CHARS,
    costs,
    difficulty,
    example_chains,
    rejection_counts,
    rejection_examples,
    trajectories,
    trim,
    wilson,
    yields,
)


def test_wilson_matches_the_textbook_values() -> None:
    # Wilson 95 % intervals from the closed form (Brown, Cai & DasGupta 2001, table values).
    low, high = wilson(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    low, high = wilson(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    low, high = wilson(10, 10)
    assert round(low, 4) == 0.7225 and high == 1.0
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson(3, 2)


@given(st.integers(0, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_holds_the_rate_inside_zero_one(case: tuple[int, int]) -> None:
    k, n = case
    low, high = wilson(k, n)
    rate = k / n if n else 0.5
    assert 0.0 <= low <= rate <= high <= 1.0
    if n:
        assert high - low < 1.0


def test_trajectories_mark_each_turn_a_stone_or_its_rejection() -> None:
    c = chain(1, ["format", 0.0, 0.25], env="deduction", mode="adaptive")
    (t,) = trajectories([c])
    assert (t.chain_id, t.env, t.mode, t.seed) == (c.id, "deduction", "adaptive", "lib/m.py:1-5")
    assert [(p.turn, p.kind, p.pass_rate) for p in t.points] == [
        (0, "format", None),
        (1, "stone", 0.0),
        (2, "stone", 0.25),
    ]
    assert t.points[0].text == "format problem in turn 0"
    assert t.points[2].text == "add 2 <b>to</b> x"
    assert t.points[2].code == "def f(x):\n    return x + 2\n" and t.points[0].code == ""
    assert t.stones == 2


def test_a_valid_but_unmeasured_turn_is_its_own_kind() -> None:
    c = msgspec.structs.replace(chain(0, [0.5]), turns=(Turn(index=0, instruction="seed"),))
    (t,) = trajectories([c])
    assert t.points[0].kind == "unmeasured" and t.stones == 0


def test_examples_take_the_most_stones_from_every_mode_in_turn() -> None:
    trajs = trajectories(varied_chains())
    picked = example_chains(trajs, 4)
    # adaptive's best (3 stones), single_turn's best (1 stone, 3 turns), top_down's only,
    # then adaptive's second best.
    assert [t.chain_id for t in picked] == [
        "deduction-adaptive-0",
        "deduction-single_turn-4",
        "induction-top_down-5",
        "deduction-adaptive-1",
    ]
    assert example_chains(trajs, 0) == []
    assert len(example_chains(trajs, 50)) == len(trajs)


def test_yield_counts_viable_problems_per_teacher_call_per_turn_and_mode() -> None:
    rows = {(r.mode, r.turn): r for r in yields(varied_chains(), CONFIG)}
    # adaptive turn 0: chains 0 (1.0, above the 0.97 keep-filter), 1 (format), 2 (0.5).
    assert (rows["adaptive", 0].viable, rows["adaptive", 0].calls) == (1, 3)
    # turn 2: 0.5, 0.25, 0.75 -> all three viable.
    assert (rows["adaptive", 2].viable, rows["adaptive", 2].calls) == (3, 3)
    assert (rows["adaptive", None].viable, rows["adaptive", None].calls) == (5, 9)
    # single_turn: 1.0 and 0.0 are outside the keep-filter.
    assert (rows["single_turn", None].viable, rows["single_turn", None].calls) == (0, 6)
    assert (rows["top_down", None].viable, rows["top_down", None].calls) == (2, 3)
    r = rows["adaptive", None]
    assert math.isclose(r.rate, 5 / 9) and (r.low, r.high) == wilson(5, 9)
    assert [k for k in rows if k[0] == "adaptive"] == [
        ("adaptive", 0),
        ("adaptive", 1),
        ("adaptive", 2),
        ("adaptive", None),
    ]


def test_yield_follows_the_runs_own_keep_filter() -> None:
    strict = CONFIG.replace(keep_low=0.3, keep_high=0.6)
    rows = {(r.mode, r.turn): r for r in yields(varied_chains(), strict)}
    assert rows["adaptive", None].viable == 2  # only the two 0.5s


def test_difficulty_histograms_and_paper_bins_per_environment() -> None:
    rows = {d.env: d for d in difficulty(varied_chains())}
    assert set(rows) == {"deduction", "induction"}
    ded = rows["deduction"]
    assert ded.pass_rates == (0.0, 0.0, 0.25, 0.5, 0.75, 1.0)
    assert len(ded.counts) == 20 and sum(ded.counts) == 6
    assert ded.counts[0] == 2 and ded.counts[5] == 1 and ded.counts[10] == 1
    assert ded.counts[15] == 1 and ded.counts[19] == 1  # 1.0 falls in the last bin
    assert ded.bins["chain"] == {"easy": 0, "medium": 1, "hard": 0}
    assert ded.bins["broad"] == {"easy": 0, "easy_medium": 1, "medium": 1, "hard": 1}
    assert difficulty([]) == []


def test_rejections_counted_by_kind_and_environment() -> None:
    rows = [(r.kind, r.env, r.count) for r in rejection_counts(varied_chains())]
    assert rows == [
        ("format", "deduction", 1),
        ("format", "induction", 2),
        ("duplicate", "induction", 1),
        ("error", "deduction", 1),
        ("llm", "deduction", 1),
    ]


def test_one_example_per_rejection_kind_with_the_reply_trimmed() -> None:
    examples = {x.kind: x for x in rejection_examples(varied_chains())}
    assert list(examples) == ["format", "duplicate", "error", "llm"]
    fmt = examples["format"]
    assert (fmt.count, fmt.env, fmt.chain_id, fmt.turn) == (
        3,
        "deduction",
        "deduction-adaptive-1",
        0,
    )
    assert fmt.reason == "format problem in turn 0"
    assert fmt.reply == trim(HOSTILE_REPLY)
    assert fmt.reply.startswith(HOSTILE_REPLY[:REPLY_CHARS])
    assert fmt.reply.endswith(f"({len(HOSTILE_REPLY) - REPLY_CHARS} more characters)")


def test_an_example_prefers_a_turn_that_kept_its_reply() -> None:
    bare = chain(7, ["error"])
    bare = msgspec.structs.replace(
        bare, turns=tuple(msgspec.structs.replace(t, teacher_reply="") for t in bare.turns)
    )
    later = chain(8, ["error"])
    (x,) = rejection_examples([bare, later])
    assert (x.chain_id, x.count) == (later.id, 2) and x.reply
    (only,) = rejection_examples([bare])
    assert only.reply == ""


def test_trim_keeps_short_text_whole() -> None:
    assert trim("short") == "short"
    assert trim("abcdef", 3) == "abc\n… (3 more characters)"


def test_costs_per_role_and_mode_divide_by_viable_problems() -> None:
    rows = {(r.mode, r.role): r for r in costs(varied_chains(), CONFIG)}
    teacher = rows["adaptive", "teacher"]
    # 9 adaptive turns x (100 prompt + 50 completion, 2.0 s); 5 viable problems.
    assert (teacher.requests, teacher.prompt_tokens, teacher.completion_tokens) == (9, 900, 450)
    assert math.isclose(teacher.wall_s, 18.0)
    assert teacher.viable == 5
    assert math.isclose(teacher.per_viable_tokens or 0, 1350 / 5)
    assert math.isclose(teacher.per_viable_s or 0, 18.0 / 5)
    student = rows["adaptive", "student"]  # 7 measured turns x (40 + 200, 3.0 s)
    assert (student.requests, student.prompt_tokens + student.completion_tokens) == (7, 7 * 240)
    sandbox = rows["adaptive", "sandbox"]  # 7 measured x 0.5 s + duplicate 0.25 s
    assert math.isclose(sandbox.wall_s, 3.75) and sandbox.per_viable_tokens == 0
    none = rows["single_turn", "teacher"]
    assert none.viable == 0 and none.per_viable_tokens is None and none.per_viable_s is None
    total = rows["all", "teacher"]
    assert (total.requests, total.viable) == (18, 7)
    assert [m for m, role in rows if role == "teacher"] == [
        "adaptive",
        "single_turn",
        "top_down",
        "all",
    ]
