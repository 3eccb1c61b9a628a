"""A real chat completion from the embedded model served by llama.cpp on loopback.

Skipped only when the ``local`` extra (llama-cpp-python[server]) is not installed, and never
under ``CI`` (``make install`` installs it there: a missing extra is a failure). The model is
fetched into the cache on first use (about 491 MB), so the timeouts are generous.
"""

from __future__ import annotations

import os
import re

import pytest

from stepstones.errors import LLMConnectionError
from stepstones.llm import (
    LOCAL_MODEL_ALIAS,
    Client,
    Endpoint,
    RetryPolicy,
    Sampling,
    local_available,
    local_endpoint,
)
from stepstones.records import Message

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not local_available() and not os.environ.get("CI"),
        reason="the 'local' extra is not installed: pip install 'stepstones[local]'",
    ),
]


@pytest.mark.timeout(1200)
async def test_local_model_answers_a_chat_completion() -> None:
    messages = [
        Message("system", "You are a Python expert. Answer with code only."),
        Message("user", "Write a Python function `def f(x):` that returns x squared."),
    ]
    async with local_endpoint(ready_timeout_s=600) as ep:
        assert ep.base_url.startswith("http://127.0.0.1:")
        assert ep.model == LOCAL_MODEL_ALIAS
        async with Client(ep) as client:
            res = await client.chat(messages, Sampling(temperature=0.2, max_tokens=96, seed=1), n=2)
    assert len(res.choices) == 2
    assert res.usage.requests == 2  # llama.cpp's server ignores n: the client split it
    assert res.usage.completion_tokens > 0
    for choice in res.choices:
        assert re.search(r"def f\(\s*x\s*\)", choice.text), choice.text
        assert choice.finish_reason in ("stop", "length")
    # The server is stopped on exit: nothing listens on its port any more.
    gone = Endpoint(base_url=ep.base_url, model=ep.model, timeout_s=5.0)
    async with Client(gone, retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(LLMConnectionError):
            await c.chat(messages, Sampling(max_tokens=4))


@pytest.mark.timeout(1200)
async def test_local_server_is_stopped_when_the_body_fails() -> None:
    class BoomError(Exception):
        pass

    url = ""
    with pytest.raises(BoomError):
        async with local_endpoint(ready_timeout_s=600) as ep:
            url = ep.base_url
            raise BoomError
    gone = Endpoint(base_url=url, model=LOCAL_MODEL_ALIAS, timeout_s=5.0)
    async with Client(gone, retry=RetryPolicy(max_attempts=1)) as c:
        with pytest.raises(LLMConnectionError):
            await c.chat([Message("user", "hi")], Sampling(max_tokens=4))
