"""The scripted world of the online-mode tests: four induction problems and a scripted
OpenAI-compatible handler that plays the policy, the teacher and the student.

The handler is a **protocol fixture**, not a model: it lets the tests drive the real reward
server, the real online teacher process and the real sandbox deterministically. Each problem's
``message`` carries a marker (``EASY-RULE`` ...) that the handler finds in a prompt:

- the policy (and the student) always solve ``easy``, never solve ``hard``, and solve every
  other choice (0, 2, ...) of the two stones: pass rate 0.5, in the band;
- the teacher, asked for a harder variant of ``easy``, writes ``harder``; asked for an easier
  variant of ``hard``, writes ``easier``; with ``hold`` set it keeps such a request open
  until the test releases it (so a test can kill the online teacher with a turn in flight).
"""

from __future__ import annotations

from typing import Any

import anyio

from stepstones import envs
from stepstones.records import Draft, Problem
from stepstones.sandbox import Sandbox
from stepstones.testing import Reply, completion

INPUTS = ("1", "2", "3", "4", "5")

#: name -> (code, message); the message holds the marker the handler looks for.
PROBLEMS: dict[str, tuple[str, str]] = {
    "easy": ("def f(x):\n    return x + 1\n", "EASY-RULE: add one to the number"),
    "hard": ("def f(x):\n    return x * x - 3\n", "HARD-RULE: a square, shifted"),
    "harder": ("def f(x):\n    return x * 3 + 1\n", "HARDER-RULE: triple it, then add one"),
    "easier": ("def f(x):\n    return x - 3\n", "EASIER-RULE: take three away"),
}
MARKERS = {name: message.split(":")[0] for name, (_, message) in PROBLEMS.items()}
#: Which stone the teacher writes for (parent, instruction).
STONE_FOR = {("easy", "HARDER variant"): "harder", ("hard", "EASIER variant"): "easier"}

WRONG = "```python\ndef f(x):\n    return 0\n```"


def right(name: str) -> str:
    return f"```python\n{PROBLEMS[name][0]}```"


def draft(name: str) -> Draft:
    code, message = PROBLEMS[name]
    return Draft(env="induction", code=code, inputs=INPUTS, message=message)


async def validated(sandbox: Sandbox, *names: str) -> dict[str, Problem]:
    out = {}
    for name in names:
        result = await envs.get("induction").validate(draft(name), sandbox)
        assert isinstance(result, Problem), f"{name} draft rejected: {result}"
        out[name] = result
    return out


def teacher_reply(name: str) -> str:
    code, message = PROBLEMS[name]
    blocks = [f"```python\n{code}```"]
    blocks += [f"```input\n{i}\n```" for i in INPUTS]
    blocks.append(f"```message\n{message}\n```")
    return "\n".join(blocks)


def which(text: str) -> str | None:
    """The problem whose marker ``text`` mentions (the stones' markers contain the bases')."""
    for name in ("harder", "easier", "easy", "hard"):
        if MARKERS[name] in text:
            return name
    return None


class World:
    """The scripted handler and what it saw. ``hold``: (parent, phrase) pairs whose teacher
    request waits on :attr:`release` before it is answered."""

    def __init__(self) -> None:
        self.teacher_requests: list[tuple[str, str]] = []
        self.hold: set[tuple[str, str]] = set()
        self.release = anyio.Event()

    async def __call__(self, body: dict[str, Any]) -> dict[str, Any] | Reply:
        messages = body["messages"]
        last = messages[-1]["content"]
        n = int(body.get("n") or 1)
        if any(m["role"] == "system" for m in messages):  # a teacher conversation
            parent = which("\n".join(m["content"] for m in messages))
            for (base, phrase), stone in STONE_FOR.items():
                if parent == base and phrase in last:
                    self.teacher_requests.append((base, phrase))
                    if (base, phrase) in self.hold:
                        await self.release.wait()
                    return completion([teacher_reply(stone)])
            return completion(["I cannot help with that."])
        name = which(last)
        if name == "easy":
            texts = [right("easy")] * n
        elif name in ("harder", "easier"):
            texts = [right(name) if i % 2 == 0 else WRONG for i in range(n)]
        else:
            texts = [WRONG] * n
        return completion(texts)
