"""What a job can forge on its result channel, and what it cannot (docs/design.md §6).

The harness shares the job's process, so a job that reads its own memory finds its own token
and can sign its own frames: its status and its values (``hostile/memory_scan.py``'s forger does
exactly that). These tests show the forge works at the channel, so the verdict of a ``check()``
that runs inside the child is the job's own word, and that it still earns no reward: graders
compare the values with the gold values on the host.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hostile._probes import HOSTILE_DIR

from stepstones import envs
from stepstones.envs import Induction
from stepstones.records import Draft, Problem
from stepstones.sandbox import Call, Limits, Sandbox

SCAN = (HOSTILE_DIR / "memory_scan.py").read_text()
CODE = "def f(s):\n    return s[::-1].upper() + '#' + str(len(s) * 7)\n"
INPUTS = ("'alpha'", "'bravo charlie'", "'delta'", "'echo foxtrot golf'", "'hotel'")


def forger(values: list[str]) -> str:
    """Source that claims, with its own token, that call i returned ``values[i]``."""
    return f"P = {{'call': True, 'forge': {values!r}}}\n{SCAN}"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(workers=1, limits=Limits(wall_time_s=30.0, cpu_time_s=20.0)) as sandbox:
        yield sandbox


def test_a_check_run_inside_the_child_is_the_jobs_own_word(sb: Sandbox) -> None:
    source = forger(["None"]) + "\ndef check():\n    assert False, 'the real checker fails'\n"
    (outcome,) = sb.run_batch([Call(source=source, function="check", args=("",))])
    assert outcome.status == "ok", outcome
    assert outcome.calls[0].ok and outcome.calls[0].value == "None", outcome


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_forged_values_earn_no_reward(sb: Sandbox) -> None:
    draft = Draft(env="induction", code=CODE, inputs=INPUTS, message="reverse, shout, count")
    problem = await envs.get("induction").validate(draft, sb)
    assert isinstance(problem, Problem), problem
    wrong = ["'forged'"] * len(INPUTS)
    # The forge works at the channel: every call "returned" the claimed value...
    outcome = await sb.run(Call(source=forger(wrong), function="f", args=problem.inputs))
    assert outcome.status == "ok", outcome
    assert [c.value for c in outcome.calls] == wrong, outcome
    # ...and the grade, computed on the host from those values, is 0.
    answer = Induction().extract(f"```python\n{forger(wrong)}```")
    assert answer is not None
    (grade,) = await Induction().grade(problem, [answer], sb)
    assert grade.reward == 0.0, grade
