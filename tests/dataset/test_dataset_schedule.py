"""Curriculum schedules and their materialisation into stage datasets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import msgspec
import pytest
from _dataset_problems import make_problem
from hypothesis import given
from hypothesis import strategies as st

from stepstones.dataset import SCHEDULES, Schedule, Stage, materialise, mix, parse_schedule, quotas
from stepstones.errors import ConfigError, ExportError


def test_presets_follow_the_paper_table() -> None:
    soft = SCHEDULES["soft"]
    assert soft.bins == "chain"
    assert [s.until_step for s in soft.stages] == [7500, 17500, 30000, 40000]
    assert soft.weights_at(0) == pytest.approx({"easy": 0.8, "medium": 0.15, "hard": 0.05})
    assert soft.weights_at(20000) == pytest.approx({"easy": 0.15, "medium": 0.4, "hard": 0.45})
    hard = SCHEDULES["hard_transition"]
    assert hard.weights_at(17499) == pytest.approx({"easy": 0.05, "medium": 0.9, "hard": 0.05})
    classic = SCHEDULES["classic"]
    assert classic.weights_at(12000) == pytest.approx({"easy": 0.75, "medium": 0.25})
    assert classic.weights_at(39999) == {"hard": 1.0}
    reverse = SCHEDULES["reverse"]
    assert reverse.weights_at(0) == {"hard": 1.0}
    assert reverse.weights_at(27000) == pytest.approx({"easy": 0.25, "medium": 0.75})
    msr = SCHEDULES["medium_start_reverse"]
    assert [s.until_step for s in msr.stages] == [17500, 20000, 40000]
    assert msr.weights_at(19000) == pytest.approx({"easy_medium": 0.25, "medium": 0.75})
    assert msr.weights_at(30000) == {"easy_medium": 1.0}
    assert SCHEDULES["medium_only"].weights_at(123) == {"medium": 1.0}
    assert SCHEDULES["uniform"].weights_at(0) == {
        "easy": 0.25,
        "easy_medium": 0.25,
        "medium": 0.25,
        "hard": 0.25,
    }


def test_scaling_keeps_proportions_and_every_stage() -> None:
    soft = SCHEDULES["soft"].scaled(400)
    assert [s.until_step for s in soft.stages] == [75, 175, 300, 400]
    tiny = SCHEDULES["classic"].scaled(5)
    assert [s.until_step for s in tiny.stages] == [1, 2, 3, 4, 5]
    with pytest.raises(ConfigError, match="number of stages"):
        SCHEDULES["classic"].scaled(4)


def test_inline_and_json_schedules(tmp_path: Path) -> None:
    s = parse_schedule("100:easy=.9,medium=.1; 300:medium=1", bins="broad")
    assert s.bins == "broad"
    assert [st.until_step for st in s.stages] == [100, 300]
    assert s.weights_at(150) == {"medium": 1.0}
    path = tmp_path / "sched.json"
    path.write_bytes(msgspec.json.encode(s))
    assert parse_schedule(str(path)) == s
    with pytest.raises(ConfigError, match="UNTIL:bin=weight"):
        parse_schedule("100:easy")
    with pytest.raises(ConfigError, match="must increase"):
        parse_schedule("100:easy=1;100:hard=1")
    with pytest.raises(ConfigError, match="all-zero"):
        Schedule("x", "broad", (Stage(10, {"easy": 0.0}),))


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.floats(0.01, 10.0), min_size=1),
    st.integers(0, 10_000),
)
def test_quotas_are_exact_and_within_one(weights: dict[str, float], n: int) -> None:
    q = quotas(weights, n)
    assert sum(q.values()) == n
    total = sum(weights.values())
    for k, w in weights.items():
        assert abs(q[k] - n * w / total) < 1


def _pools() -> dict[str, list]:
    return {
        "easy": [make_problem(k, 0.85) for k in range(10)],
        "medium": [make_problem(k, 0.5) for k in range(100, 137)],
        "hard": [make_problem(k, 0.1) for k in range(200, 205)],
    }


def test_materialised_stages_realise_the_weights() -> None:
    sched = SCHEDULES["soft"].scaled(40)  # stages of 7.5/10/12.5/10 steps -> 8, 10, 12, 10
    stages = materialise(sched, _pools(), prompts_per_step=64, seed=7, max_repeats=None)
    assert [s.until_step - s.start_step for s in stages] == [8, 10, 12, 10]
    pools = _pools()
    ids = {b: {p.id for p in ps} for b, ps in pools.items()}
    for st_data, stage in zip(stages, sched.stages, strict=True):
        n = (st_data.until_step - st_data.start_step) * 64
        assert len(st_data.items) == n
        realised = Counter(b for b, _ in st_data.items)
        total = sum(stage.weights.values())
        for b, w in stage.weights.items():
            # Within sampling tolerance: largest-remainder quotas are within one prompt.
            assert abs(realised[b] / n - w / total) <= 1 / n
        for b, p in st_data.items:
            assert p.id in ids[b]  # each prompt comes from the bin it is tagged with
        # Repeats are spread evenly: a bin's problems are used within one of each other.
        for b in realised:
            uses = Counter(p.id for bb, p in st_data.items if bb == b)
            assert max(uses.values()) - min(uses.values()) <= 1
    again = materialise(sched, _pools(), prompts_per_step=64, seed=7, max_repeats=None)
    assert again == stages
    other = materialise(sched, _pools(), prompts_per_step=64, seed=8, max_repeats=None)
    assert [s.items for s in other] != [s.items for s in stages]


def test_an_empty_weighted_bin_is_an_error_unless_renormalised() -> None:
    pools = _pools()
    del pools["hard"]
    sched = SCHEDULES["soft"].scaled(4)
    with pytest.raises(ExportError, match=r"\['hard'\].*renormalise"):
        materialise(sched, pools, prompts_per_step=10)
    stages = materialise(sched, pools, prompts_per_step=10, renormalise=True)
    assert all("hard" not in s.counts for s in stages)
    assert stages[0].weights == pytest.approx({"easy": 0.8 / 0.95, "medium": 0.15 / 0.95})


def test_environment_mix() -> None:
    probs = [make_problem(k, 0.5, env) for k in range(20) for env in ("induction", "deduction")]  # type: ignore[arg-type]
    chosen = mix(probs, {"induction": 5, "deduction": 7}, seed=3)
    assert Counter(p.env for p in chosen) == {"induction": 5, "deduction": 7}
    assert len({p.id for p in chosen}) == 12
    assert mix(probs, {"induction": 5, "deduction": 7}, seed=3) == chosen
    with pytest.raises(ExportError, match="only 20"):
        mix(probs, {"induction": 21})
