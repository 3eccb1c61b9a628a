"""grade() names the mistake when it is handed what validate() rejected."""

from __future__ import annotations

import pytest

from stepstones import envs
from stepstones.errors import ConfigError
from stepstones.records import Draft, Rejection


@pytest.mark.anyio
async def test_grading_a_rejection_is_a_clear_error(sandbox) -> None:
    env = envs.get("deduction")
    rejected = await env.validate(
        Draft(env="deduction", code="def f(x):\n    return x * 2\n", inputs=("3",)), sandbox
    )
    assert isinstance(rejected, Rejection)
    with pytest.raises(ConfigError, match=r"validated Problem, got a Rejection .*need 5"):
        await env.grade(rejected, ["6"], sandbox)  # type: ignore[arg-type]
