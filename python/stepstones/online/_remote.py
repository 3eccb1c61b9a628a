"""Rewards through the reward server, so the live ledger sees every rollout.

OpenRLHF already posts to ``stepstones serve``. verl's ``compute_score`` and TRL's reward
callables normally grade in-process (:mod:`stepstones.serve._hooks`), which the ledger never
sees; in online mode they post to the server instead, with these:

- verl: ``reward.custom_reward_function.path=pkg://stepstones.online.verl`` and
  ``reward.custom_reward_function.name=compute_score`` (verl 0.9.1 loads it with
  ``load_extern_object``, which takes ``pkg://``), with ``STEPSTONES_REWARD_URL`` set;
- TRL: ``reward_funcs=[RemoteReward("http://127.0.0.1:5000")]`` from
  :mod:`stepstones.online.trl` (TRL passes its ``trainer_state``; its ``global_step`` is
  recorded as the step).

A request that fails is retried a few times, then the items score 0.0 with a logged reason
(a reward function that raises would stop the trainer).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import httpx

from stepstones.errors import ConfigError

__all__ = ["REWARD_URL_ENV", "RemoteReward", "compute_score"]

log = logging.getLogger("stepstones.online")

#: The reward server's base URL for :func:`compute_score` (verl calls it without arguments).
REWARD_URL_ENV = "STEPSTONES_REWARD_URL"
_TRIES = 5
_TOKEN_ENV = "STEPSTONES_SERVE_TOKEN"


def _text(completion: Any) -> str:
    """A completion as text: TRL gives a string or a conversation (the last message counts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def _headers() -> dict[str, str]:
    token = os.environ.get(_TOKEN_ENV)
    return {"authorization": f"Bearer {token}"} if token else {}


def _body(answers: Sequence[str], labels: Sequence[Any], step: int | None) -> dict[str, Any]:
    # No prompt: the answer is sent as the whole query, which the server cuts as it stands.
    return {"query": list(answers), "labels": list(labels), "step": step}


class RemoteReward:
    """A TRL reward callable that grades through ``stepstones serve`` at ``base_url``."""

    __name__ = "stepstones_remote_reward"  # TRL names reward columns after the function

    def __init__(self, base_url: str, *, timeout_s: float = 180.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/get_reward"
        self.timeout_s = timeout_s

    async def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], label: Sequence[Any], **kw: Any
    ) -> list[float]:
        state = kw.get("trainer_state")
        step = getattr(state, "global_step", None)
        body = _body([_text(c) for c in completions], label, step)
        async with httpx.AsyncClient(timeout=self.timeout_s, headers=_headers()) as client:
            for attempt in range(_TRIES):
                try:
                    reply = await client.post(self.url, json=body)
                    if reply.status_code == 200:
                        return [float(r) for r in reply.json()["rewards"]]
                    reason = f"HTTP {reply.status_code}: {reply.text[:200]}"
                except httpx.HTTPError as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                log.warning("reward request %d/%d failed: %s", attempt + 1, _TRIES, reason)
        return [0.0] * len(completions)


def compute_score(
    data_source: Any, solution_str: str, ground_truth: Any, extra_info: Any = None, **kw: Any
) -> float:
    """verl's reward function, graded by the server at ``$STEPSTONES_REWARD_URL``."""
    base = os.environ.get(REWARD_URL_ENV)
    if not base:
        raise ConfigError(f"set {REWARD_URL_ENV} to the reward server, e.g. http://127.0.0.1:5000")
    url = base.rstrip("/") + "/get_reward"
    body = _body([solution_str], [ground_truth], None)
    for attempt in range(_TRIES):
        try:
            reply = httpx.post(url, json=body, headers=_headers(), timeout=180.0)
            if reply.status_code == 200:
                return float(reply.json()["rewards"][0])
            reason = f"HTTP {reply.status_code}: {reply.text[:200]}"
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
        log.warning("reward request %d/%d failed: %s", attempt + 1, _TRIES, reason)
        time.sleep(min(2.0, 0.25 * 2**attempt))
    return 0.0
