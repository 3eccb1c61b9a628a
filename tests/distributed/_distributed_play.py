"""A scripted teacher and student served by stepstones.testing's loopback server (a protocol
fixture: it plays replies, it is not a model).

The teacher writes deduction problems ``def f(x): return x + K`` with a new K per request, so
every problem is distinct (or, with ``repeat``, K = 1 every time: one and the same problem for
every seed); the student answers right for half of its samples. Replies can be
delayed to keep chains in flight (for kill tests and the benchmark).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from stepstones.distributed import WorkerSpec
from stepstones.llm import Endpoint
from stepstones.pipeline import Config, SamplingConfig
from stepstones.records import Seed, content_hash
from stepstones.testing import Reply, completion

#: A variable that only the test cluster's nodes have (conftest.py sets it while they start),
#: holding an API key that the actors must read there: the driver never has it.
NODE_KEY_ENV = "STEPSTONES_TEST_NODE_API_KEY"
NODE_KEY = "sk-node-only-5f1c9a"

#: Small settings: M=4, two turns per chain (every scripted problem lands at p = 0.5).
CONFIG = Config(
    samples=4,
    max_turns=2,
    teacher_sampling=SamplingConfig(max_tokens=256),
    student_sampling=SamplingConfig(max_tokens=64),
)


def problem_reply(k: int) -> str:
    inputs = "\n".join(f"```input\n{i}\n```" for i in range(1, 6))
    return f"Here.\n```python\ndef f(x):\n    return x + {k}\n```\n{inputs}\n"


class Play:
    """The handler: ``async with ScriptedLLMServer(Play()) as srv``. The student's requests
    are those asking for several samples (``n > 1``), so any model name serves both roles."""

    def __init__(self, *, delay_s: float = 0.0, repeat: bool = False) -> None:
        self.delay_s = delay_s
        self._k = itertools.repeat(1) if repeat else itertools.count(1)
        self.teacher_calls = 0
        self.student_calls = 0
        #: Called with each teacher request's body before it is answered (tests use it to act
        #: while a chain is certainly in flight).
        self.on_teacher: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, body: dict[str, Any]) -> dict[str, Any] | Reply:
        if int(body.get("n", 1)) == 1:
            self.teacher_calls += 1
            if self.on_teacher is not None:
                self.on_teacher(body)
            reply = completion([problem_reply(next(self._k))])
        else:
            self.student_calls += 1
            prompt = body["messages"][-1]["content"]
            k = int(re.findall(r"return x \+ (\d+)", prompt)[-1])
            n = int(body.get("n", 1))
            reply = completion([f"```output\n{1 + k if i % 2 == 0 else -1}\n```" for i in range(n)])
        return Reply(body=reply, delay_s=self.delay_s) if self.delay_s else reply


def seeds(n: int) -> list[Seed]:
    out = []
    for i in range(n):
        text = f"def g{i}(x):\n    return x * {i} + 1\n"
        out.append(Seed(id=content_hash(text), text=text, source="t.py", start_line=1, end_line=2))
    return out


def worker_spec(url: str, **changes: Any) -> WorkerSpec:
    """What the actors of these tests get: the scripted server at ``url`` as teacher and
    student, CONFIG, deduction only, one sandbox zygote each; ``changes`` replace fields."""
    fields: dict[str, Any] = {
        "teacher": Endpoint(base_url=url, model="teacher"),
        "student": Endpoint(base_url=url, model="student"),
        "config": CONFIG,
        "envs": ("deduction",),
        "sandbox_workers": 1,
    }
    return WorkerSpec(**(fields | changes))
