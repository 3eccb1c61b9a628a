"""Reward functions for the trainers' in-process hooks (no HTTP hop).

- OpenRLHF: ``--reward.remote_url /path/reward_func.py`` loads ``reward_func(queries, prompts,
  labels, **kwargs)`` and calls it in a worker thread (``asyncio.to_thread``), one item at a
  time; it returns ``{"rewards", "scores", "extra_logs"}`` like the HTTP server.
- verl: ``reward.custom_reward_function.path/name`` -> ``compute_score(data_source,
  solution_str, ground_truth, extra_info=None, **kwargs)`` returning ``{"score": ...}``.
- TRL: ``GRPOTrainer(reward_funcs=[trl_reward])``; an async callable
  ``(prompts, completions, label, **kwargs) -> list[float]`` reading the ``label`` column.

None of them imports torch or a trainer. All grading goes through one process-wide event loop
in a daemon thread (an anyio blocking portal) and the process-wide sandbox, so limiters and
zygotes are shared by every trainer thread, whichever thread or loop calls in.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.from_thread

from stepstones.serve._cut import cut_response, strip_special
from stepstones.serve._rewarder import OUTCOMES, Rewarder, Verdict

__all__ = ["compute_score", "reward_func", "trl_reward"]

_lock = threading.Lock()
_portal: anyio.from_thread.BlockingPortal | None = None
_rewarder: Rewarder | None = None


def _get() -> tuple[anyio.from_thread.BlockingPortal, Rewarder]:
    global _portal, _rewarder  # noqa: PLW0603 - one lazily started grading loop per process
    with _lock:
        if _portal is None or _rewarder is None:
            cm = anyio.from_thread.start_blocking_portal("asyncio")
            _portal = cm.__enter__()
            atexit.register(cm.__exit__, None, None, None)
            _rewarder = Rewarder()
        return _portal, _rewarder


def score_blocking(responses: Sequence[str], labels: Sequence[Any]) -> list[Verdict]:
    """Grade on the process-wide loop; callable from any thread that is not that loop."""
    portal, rewarder = _get()
    return portal.call(rewarder.score, list(responses), list(labels))


def reward_func(
    queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any], **kwargs: Any
) -> dict[str, Any]:
    """OpenRLHF's ``reward_func``: the same answer the HTTP server gives for these items."""
    responses = [cut_response(q, p).response for q, p in zip(queries, prompts, strict=True)]
    verdicts = score_blocking(responses, labels)
    rewards = [v.reward for v in verdicts]
    extra = {o: [1.0 if v.outcome == o else 0.0 for v in verdicts] for o in OUTCOMES}
    return {"rewards": rewards, "scores": rewards, "extra_logs": extra}


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """verl's ``compute_score``: ``solution_str`` is the decoded response, ``ground_truth``
    the exported label. Returns ``{"score": 0.0 | 1.0, "pass": ..., "<outcome>": 0/1, ...}``."""
    (verdict,) = score_blocking([strip_special(solution_str)], [ground_truth])
    out = {"score": verdict.reward}
    out.update({o: 1.0 if verdict.outcome == o else 0.0 for o in OUTCOMES})
    return out


def _completion_text(completion: Any) -> str:
    """TRL completions are text, or (conversational) a list of messages: take the assistant's."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = [
            str(m.get("content") or "")
            for m in completion
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        ]
        return "\n".join(parts)
    return str(completion)


async def trl_reward(
    prompts: Sequence[Any], completions: Sequence[Any], label: Sequence[Any], **kwargs: Any
) -> list[float]:
    """TRL ``GRPOTrainer`` reward function (async): one float per completion, from the
    ``label`` column of the TRL export."""
    responses = [strip_special(_completion_text(c)) for c in completions]
    verdicts = await anyio.to_thread.run_sync(score_blocking, responses, list(label))
    return [v.reward for v in verdicts]
