"""OpenRLHF 0.11.2's own reward client against the running server, and its reward_func loader
against examples/openrlhf/reward_func.py.

The client is ``SingleTurnAgentExecutor`` in ``openrlhf/utils/agent.py``, taken unchanged from
the 0.11.2 wheel on PyPI (downloaded by ``pip download --no-deps`` on first use). Only that
module and its one internal import (``openrlhf/utils/logging_utils.py``, stdlib-only) are
loaded; the ``openrlhf`` and ``openrlhf.utils`` *packages* are replaced by empty stand-in
modules, because their ``__init__`` files import torch/deepspeed, which the client does not use.
aiohttp, its HTTP library, is the real one.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from _serve_problems import ANSWERS

from _trainer_wheels import OPENRLHF, read_source
from stepstones import records
from stepstones.records import ENVIRONMENTS, Env, Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import App, Config, Rewarder, running

pytest.importorskip("aiohttp")

REWARD_FUNC = Path(__file__).resolve().parents[2] / "examples" / "openrlhf" / "reward_func.py"
PROMPT = "<|im_start|>user\nsolve it<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def openrlhf_agent() -> Iterator[types.ModuleType]:
    """``openrlhf.utils.agent`` from the 0.11.2 wheel, loaded under its real module name."""
    saved = {k: sys.modules.get(k) for k in ("openrlhf", "openrlhf.utils")}
    for name in ("openrlhf", "openrlhf.utils"):
        stand_in = types.ModuleType(name)
        stand_in.__path__ = []  # a package, so submodules can be registered under it
        sys.modules[name] = stand_in
    loaded = []
    try:
        for name, member in (
            ("openrlhf.utils.logging_utils", "openrlhf/utils/logging_utils.py"),
            ("openrlhf.utils.agent", "openrlhf/utils/agent.py"),
        ):
            module = types.ModuleType(name)
            module.__file__ = member
            sys.modules[name] = module
            loaded.append(name)
            exec(compile(read_source(OPENRLHF, member), member, "exec"), module.__dict__)
        yield sys.modules["openrlhf.utils.agent"]
    finally:
        for name in loaded:
            sys.modules.pop(name, None)
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def _cases(problems: dict[Env, Problem]) -> list[tuple[str, str, str, float]]:
    """(query, prompt, label, expected reward): a right and a wrong answer per environment."""
    out = []
    for env in ENVIRONMENTS:
        label = records.encode_json(problems[env]).decode()
        right, wrong = ANSWERS[env]
        for completion, expected in ((right, 1.0), (wrong, 0.0)):
            out.append((PROMPT + completion + "<|im_end|>", PROMPT, label, expected))
    return out


@pytest.mark.anyio
async def test_openrlhf_http_client_gets_correct_rewards(
    openrlhf_agent: types.ModuleType, sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    cases = _cases(problems) * 4  # 32 concurrent single-item requests, as rollouts send them
    app = App(Rewarder(sandbox), Config(port=0))
    got: dict[int, Any] = {}
    async with running(app) as url:
        executor = openrlhf_agent.SingleTurnAgentExecutor(url + "/get_reward")

        async def one(i: int, query: str, prompt: str, label: str) -> None:
            got[i] = await executor._fetch_rewards_via_http([query], [prompt], [label])

        async with anyio.create_task_group() as tg:
            for i, (query, prompt, label, _) in enumerate(cases):
                tg.start_soon(one, i, query, prompt, label)
    for i, (_, _, _, expected) in enumerate(cases):
        (info,) = got[i]
        assert info["rewards"] == [expected]
        assert info["scores"] == [expected]
        assert info["extra_logs"]["pass"] == [expected]


@pytest.mark.anyio
async def test_openrlhf_reward_func_file(
    openrlhf_agent: types.ModuleType, problems: dict[Env, Problem]
) -> None:
    """OpenRLHF loads examples/openrlhf/reward_func.py itself and calls it in a thread."""
    executor = openrlhf_agent.SingleTurnAgentExecutor(str(REWARD_FUNC))
    assert executor.reward_func is not None
    for query, prompt, label, expected in _cases(problems):
        (info,) = await executor._fetch_rewards_via_func([query], [prompt], [label])
        assert info["rewards"] == [expected]
        assert set(info["extra_logs"]) >= {"pass", "wrong", "no_answer"}
