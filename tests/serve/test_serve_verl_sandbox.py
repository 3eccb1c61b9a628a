"""verl 0.9.1's own SandboxFusion client against ``POST /run_code``.

``verl/utils/reward_score/sandbox_fusion/utils.py`` is taken unchanged from the verl wheel on
PyPI and loaded on its own (it imports only the stdlib and ``requests``; the ``verl`` package
itself is not imported, so no stand-ins are needed). Its ``check_correctness`` runs each test
case through our endpoint and judges the SandboxFusion-shaped replies.
"""

from __future__ import annotations

import types

import anyio
import pytest

from _trainer_wheels import read_source
from stepstones.sandbox import Sandbox
from stepstones.serve import App, Config, Rewarder, running

pytest.importorskip("requests")
VERL = ("verl", "0.9.1")
MEMBER = "verl/utils/reward_score/sandbox_fusion/utils.py"

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def sandbox_fusion() -> types.ModuleType:
    module = types.ModuleType("verl_sandbox_fusion_utils")
    exec(compile(read_source(VERL, MEMBER), MEMBER, "exec"), module.__dict__)
    return module


async def test_verl_check_correctness_through_run_code(
    sandbox_fusion: types.ModuleType, sandbox: Sandbox
) -> None:
    in_outs = {"inputs": ["3\n", "5\n", "-2\n"], "outputs": ["6\n", "10\n", "-4\n"]}
    right = "x = int(input())\nprint(x * 2)"
    wrong = "x = int(input())\nprint(x + 1)"
    crash = "raise SystemExit(3)"
    spin = "while True:\n    pass"
    app = App(Rewarder(sandbox), Config(port=0))
    async with running(app) as url:

        def check(code: str, timeout: int = 5) -> list[object]:
            results, _ = sandbox_fusion.check_correctness(
                url + "/run_code", in_outs, code, timeout=timeout
            )
            return list(results)

        assert await anyio.to_thread.run_sync(check, right) == [True, True, True]
        assert await anyio.to_thread.run_sync(check, wrong) == [False, False, False]
        assert await anyio.to_thread.run_sync(check, crash) == [-2, -2, -2]  # runtime error
        timed_out = await anyio.to_thread.run_sync(check, spin, 1)
        assert timed_out[0] == -3  # verl's code for a run timeout
