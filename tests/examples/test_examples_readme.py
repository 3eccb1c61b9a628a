"""The README's Python snippets, each run exactly as printed, as a script in its own process:
the generation snippet against a scripted OpenAI-compatible server on loopback (a protocol
fixture, not a model) configured the way the README says (STEPSTONES_BASE_URL/MODEL), the
grading snippet with no LLM at all."""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from _examples_run import clean_env

from stepstones.testing import ScriptedLLMServer, completion

README = Path(__file__).resolve().parents[2] / "README.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def snippets() -> list[str]:
    return [body for lang, body in _FENCE.findall(README.read_text()) if lang == "python"]


def snippet(marker: str) -> str:
    (found,) = [s for s in snippets() if marker in s]
    return found


async def run_script(code: str, env: dict[str, str]) -> tuple[int, str, str]:
    with anyio.fail_after(120):
        proc = await anyio.run_process([sys.executable, "-c", code], check=False, env=env)
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


class Induction:
    """Teacher (one sample asked): a new ``f(x) = x + K`` per request, with five inputs and a
    message. Student (several samples): reads K off the first example pair and answers right
    on half its samples."""

    def __init__(self) -> None:
        self._k = itertools.count(1)

    def __call__(self, body: dict[str, Any]) -> dict[str, Any]:
        n = int(body.get("n", 1))
        if n == 1:
            k = next(self._k)
            inputs = "\n".join(f"```input\n{i}\n```" for i in range(1, 6))
            return completion(
                [
                    f"```python\ndef f(x):\n    return x + {k}\n```\n{inputs}\n"
                    "```message\nadds a constant to a number\n```\n"
                ]
            )
        prompt = body["messages"][-1]["content"]
        x, y = map(int, re.findall(r"f\((-?\d+)\) == (-?\d+)", prompt)[0])
        return completion(
            [
                f"```python\ndef f(x):\n    return x + {y - x if i % 2 == 0 else 0}\n```"
                for i in range(n)
            ]
        )


def test_every_snippet_is_a_complete_script() -> None:
    found = snippets()
    assert len(found) >= 2
    for code in found:
        assert "asyncio.run(main())" in code  # no top-level await: runs as printed
        compile(code, "README.md", "exec")


@pytest.mark.anyio
async def test_the_generation_snippet_runs_as_printed(tmp_path: Path) -> None:
    config = tmp_path / "small.toml"
    config.write_text("samples = 4\nmax_turns = 2\n")  # a quick chain, same code path
    async with ScriptedLLMServer(Induction()) as srv:
        env = clean_env() | {
            "STEPSTONES_BASE_URL": srv.base_url,
            "STEPSTONES_MODEL": "scripted",
            "STEPSTONES_CONFIG": str(config),
        }
        code, out, err = await run_script(snippet("generate_chain"), env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines and all(line == "0.5 adds a constant to a number" for line in lines), out


@pytest.mark.anyio
async def test_the_grading_snippet_runs_as_printed() -> None:
    code, out, err = await run_script(snippet("env.extract"), clean_env())
    assert code == 0, err
    first, second = out.splitlines()
    assert first.startswith("1.0 ") and second.startswith("0.0 "), out
