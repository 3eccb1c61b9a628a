"""The online teacher's choices: which problems it works on (the paper's rule on the live
windowed pass rate, after W rollouts) and the summary it shows the teacher."""

from __future__ import annotations

from pathlib import Path

import msgspec

from stepstones.online import LivePool, Stone, Try, live_summary
from stepstones.online._teacher import due
from stepstones.pipeline._config import Config
from stepstones.records import Problem
from stepstones.serve import Verdict
from stepstones.serve._ledger import Ledger


def _rollouts(ledger: Ledger, problem: Problem, passed: list[bool], answers: list[str]) -> None:
    verdicts = [Verdict(float(p), "pass" if p else "wrong", "wrong output") for p in passed]
    ledger.record([(problem, range(len(passed)))], answers, verdicts, step=3)


def test_out_of_band_after_a_window_and_until_a_viable_stone(
    base: dict[str, Problem], tmp_path: Path
) -> None:
    easy, hard = base["easy"], base["hard"]
    middle = msgspec.structs.replace(easy, id="middle")
    ledger = Ledger(tmp_path / "ledger", window=4)
    try:
        _rollouts(ledger, easy, [True] * 3, ["x"] * 3)  # 3 < W: not yet
        _rollouts(ledger, hard, [False] * 4, ["x"] * 4)
        _rollouts(ledger, middle, [True, False, False, True], ["x"] * 4)
        ledger.flush()
        with LivePool(tmp_path) as pool:
            picked = due(ledger.view.all(), pool, max_tries=2)
            assert [(s.id, i) for s, i in picked] == [(hard.id, "easier")]
            _rollouts(ledger, easy, [True], ["x"])
            ledger.flush()
            picked = due(ledger.view.all(), pool, max_tries=2)
            assert {(s.id, i) for s, i in picked} == {(hard.id, "easier"), (easy.id, "harder")}
            assert due(ledger.view.all(), pool, 2, in_flight={(hard.id, "easier")})[0][0].id == (
                easy.id
            )
            # A stone measured outside the keep-filter is a miss; a viable one ends the work.
            stone = Stone(id="s1", problem=easy, parent_id=easy.id, instruction="harder",
                          root_id=easy.id, chain=(easy.id,), parent_pass_rate=1.0,
                          parent_rollouts=4, viable=False, t=1.0)  # fmt: skip
            pool.add(stone, Try(parent_id=easy.id, instruction="harder", outcome="stone"))
            pool.add(None, Try(parent_id=hard.id, instruction="easier", outcome="rejected"))
            pool.add(None, Try(parent_id=hard.id, instruction="easier", outcome="llm"))
            assert {s.id for s, _ in due(ledger.view.all(), pool, 2)} == {easy.id, hard.id}
            pool.add(None, Try(parent_id=hard.id, instruction="easier", outcome="rejected"))
            viable = msgspec.structs.replace(stone, id="s2", viable=True)
            pool.add(viable, Try(parent_id=easy.id, instruction="harder", outcome="stone"))
            assert due(ledger.view.all(), pool, 2) == []
    finally:
        ledger.close()


def test_the_summary_is_the_live_policy_s(base: dict[str, Problem], tmp_path: Path) -> None:
    easy = base["easy"]
    ledger = Ledger(tmp_path, window=4)
    try:
        long = "def f(x):\n    return x + 1  # " + "y" * 2000
        _rollouts(ledger, easy, [True, False, False, False], [
            f"```python\n{long}\n```", "```python\ndef f(x):\n    return 0\n```", "no code", "no",
        ])  # fmt: skip
        ledger.flush()
        stats = ledger.view.stats(easy.id)
    finally:
        ledger.close()
    assert stats is not None
    config = Config(summary_answer_chars=100)
    summary = live_summary(stats, config)
    assert (summary.pass_rate, summary.n_attempts, summary.n_passed) == (0.25, 4, 1)
    assert summary.format_errors == 2
    (solved,) = summary.solved
    assert solved.startswith("def f(x):") and len(solved) <= 100
    (failed,) = summary.failed  # the answered failure is the example, with the grader's reason
    assert "return 0" in failed and "wrong output" in failed
