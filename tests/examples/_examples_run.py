"""Running an example script the way a user does, and a scripted teacher/student for those that
need an LLM (a protocol fixture served on loopback, not a model)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio

from stepstones.testing import completion

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def clean_env() -> dict[str, str]:
    """This environment without stepstones/OpenAI/Ray settings (a Ray test in this session
    may have set RAY_ADDRESS), so only the arguments count."""
    prefixes = ("STEPSTONES_", "OPENAI_", "RAY_ADDRESS")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


async def run_example(
    name: str, *args: str, timeout_s: float = 180
) -> subprocess.CompletedProcess[str]:
    with anyio.fail_after(timeout_s):
        proc = await anyio.run_process(
            [sys.executable, str(EXAMPLES / name), *args], check=False, env=clean_env()
        )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


class Deduction:
    """Teacher: a new ``def f(x): return x + K`` per request; student: right on half its
    samples. The student's requests are the ones asking for several samples (``n > 1``), so
    one model name serves both roles, as with a real server."""

    def __init__(self) -> None:
        self._k = itertools.count(1)
        self.teacher_calls = 0
        self.student_calls = 0

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        n = int(body.get("n", 1))
        if n == 1:
            self.teacher_calls += 1
            inputs = "\n".join(f"```input\n{i}\n```" for i in range(1, 6))
            k = next(self._k)
            return completion([f"```python\ndef f(x):\n    return x + {k}\n```\n{inputs}\n"])
        self.student_calls += 1
        prompt = body["messages"][-1]["content"]
        k = int(re.findall(r"return x \+ (\d+)", prompt)[-1])
        return completion([f"```output\n{1 + k if i % 2 == 0 else -1}\n```" for i in range(n)])
