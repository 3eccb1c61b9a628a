"""A scripted teacher and student for pipeline tests, served by stepstones.testing's loopback
server (a protocol fixture: it plays replies, it is not a model).

The teacher writes deduction problems ``def f(x): return x + K`` with a new ``K`` per valid
reply, so problems are distinct; scripted misbehaviours (error statuses, malformed bodies,
dropped connections, slow replies, unparseable text, repeats) are played in order first. The
student answers ``1 + K`` (right) or ``-1`` (wrong); the share of right answers for the i-th
distinct problem is ``rates[i]``. Requests are told apart by model name ("teacher"/"student").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from stepstones.testing import Reply, completion

#: A teacher step: "ok" (a new valid problem), "same" (repeat the last problem), "format" (text
#: without blocks), or a Reply to send as is.
Step = str | Reply


def problem_reply(k: int) -> str:
    inputs = "\n".join(f"```input\n{i}\n```" for i in range(1, 6))
    return f"Here you go.\n```python\ndef f(x):\n    return x + {k}\n```\n{inputs}\n"


class Play:
    """The handler: ``async with ScriptedLLMServer(Play(...)) as srv``."""

    def __init__(
        self,
        teacher: Sequence[Step] = (),
        rates: Sequence[float] = (0.5,),
        *,
        student: Sequence[Reply] = (),
        max_choices: int | None = None,
        student_delay_s: float = 0.0,
    ) -> None:
        self.teacher_script = list(teacher)
        self.student_script = list(student)
        self.rates = list(rates)
        self.max_choices = max_choices
        self.student_delay_s = student_delay_s
        self.k = 0
        self.rate_of: dict[int, float] = {}
        self.answered: dict[int, int] = {}
        self.teacher_prompts: list[str] = []
        self.student_calls = 0

    def __call__(self, body: dict[str, Any]) -> dict[str, Any] | Reply:
        if body["model"] == "teacher":
            return self.teacher(body)
        return self.student(body)

    def teacher(self, body: dict[str, Any]) -> dict[str, Any] | Reply:
        self.teacher_prompts.append(body["messages"][-1]["content"])
        step = self.teacher_script.pop(0) if self.teacher_script else "ok"
        if isinstance(step, Reply):
            return step
        if step == "format":
            return completion(["I would rather not write blocks today."])
        if step == "ok":
            self.k += 1
        return completion([problem_reply(self.k)], reasoning="thinking about it")

    def student(self, body: dict[str, Any]) -> dict[str, Any] | Reply:
        self.student_calls += 1
        if self.student_script:
            return self.student_script.pop(0)
        prompt = body["messages"][-1]["content"]
        k = int(re.search(r"return x \+ (\d+)", prompt).group(1))  # type: ignore[union-attr]
        m = int(body.get("n", 1))
        n = m if self.max_choices is None else min(m, self.max_choices)
        if k not in self.rate_of:
            self.rate_of[k] = self.rates[min(len(self.rate_of), len(self.rates) - 1)]
        texts = []
        for _ in range(n):
            j = self.answered.get(k, 0)
            self.answered[k] = j + 1
            right = j % m < round(self.rate_of[k] * m)
            texts.append(f"Thinking...\n```output\n{1 + k if right else -1}\n```")
        reply = completion(texts)
        return Reply(body=reply, delay_s=self.student_delay_s) if self.student_delay_s else reply
