"""No job observes any byte of another job, even by reading its own address space
(docs/design.md §6).

Each test first *plants* markers on every zygote (jobs whose source, stdin, arguments, stdout,
stderr and return values carry them; a zygote is told apart by its hash seed), then runs the
hostile probe ``hostile/memory_scan.py`` on every zygote: it finds its mappings without /proc and
reads every readable byte. Its own controls (markers it builds at run time on its heap and in an
anonymous mapping) must be found, so a scan that reads nothing cannot pass. The copier in the same
file is an induction answer that does not know ``f`` and answers with whatever result frames of
earlier jobs it finds in its memory: through ``env.grade``, ``POST /get_reward`` and ``generate``
it must earn nothing.
"""

from __future__ import annotations

import ast
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from hostile._probes import HOSTILE_DIR

from _serve_process import wait_healthy
from stepstones import envs, records
from stepstones.envs import Induction
from stepstones.llm import Client, Endpoint
from stepstones.pipeline import Config, TurnContext, run_chain
from stepstones.records import Draft, Problem, Seed
from stepstones.sandbox import Call, Job, Limits, Outcome, Sandbox, Script
from stepstones.testing import ScriptedLLMServer, completion

WORKERS = 2
SCAN = (HOSTILE_DIR / "memory_scan.py").read_text()
ROTATE = bytes((b + 1) % 256 for b in range(256))
NONCE = secrets.token_hex(8)
#: Every place an earlier job's bytes could rest in a zygote (file: the names of files it left).
KINDS = ("src", "stdin", "out", "err", "file", "csrc", "arg", "val")
LIMITS = Limits(wall_time_s=30.0, cpu_time_s=20.0, call_cpu_time_s=20.0)


def marker(kind: str) -> str:
    return f"mk{kind}{NONCE}"


def needles() -> dict[str, str]:
    return {kind: marker(kind).encode().translate(ROTATE).hex() for kind in KINDS}


def _runtime(kind: str) -> str:
    """Source text that builds ``marker(kind)`` at run time (the text holds it only in parts)."""
    return f"('mk' + {kind!r} + {NONCE!r})"


PLANT_SCRIPT = Script(
    source=(
        f"# {marker('src')}\n"
        "import sys\n"
        "sys.stdin.read()\n"
        "print(hash('stepstones-zygote-id'))\n"
        f"print({_runtime('out')} * 300)\n"
        f"print({_runtime('err')} * 300, file=sys.stderr)\n"
        f"import os\nos.mkdir({_runtime('file')})\n"
        f"open({_runtime('file')} + '/' + {_runtime('file')} * 3, 'w').close()\n"
    ),
    stdin=marker("stdin") * 300,
)
PLANT_CALL = Call(
    source=(
        f"# {marker('csrc')}\n"
        "def f(x):\n"
        f"    return [hash('stepstones-zygote-id'), len(x), {_runtime('val')} * 100]\n"
    ),
    function="f",
    args=(repr(marker("arg") * 100),) * 3,
)


def zygote_of(outcome: Outcome) -> int:
    assert outcome.status == "ok", outcome
    if outcome.calls:
        value = outcome.calls[0].value
        assert value is not None, outcome
        return int(ast.literal_eval(value)[0])
    return int(outcome.stdout.splitlines()[0])


def on_every_zygote(sb: Sandbox, make: Callable[[], list[Job]]) -> dict[int, Any]:
    """Runs ``make()``'s jobs in rounds (each round planted anew) until every zygote ran them."""
    reports: dict[int, Any] = {}
    planted: set[int] = set()
    for _ in range(12):
        plants = sb.run_batch([PLANT_SCRIPT, PLANT_CALL] * WORKERS)
        planted |= {zygote_of(o) for o in plants}
        for outcome in sb.run_batch(make()):
            reports.setdefault(report_zygote(outcome), report(outcome))
        if len(planted) == WORKERS and len(reports) == WORKERS:
            return reports
    pytest.fail(f"planted on {len(planted)} and probed {len(reports)} of {WORKERS} zygotes")


def report(outcome: Outcome) -> dict[str, Any]:
    assert outcome.status == "ok", outcome
    if outcome.calls:
        value = outcome.calls[0].value
        assert value is not None, outcome
        result: dict[str, Any] = ast.literal_eval(value)
        return result
    result = ast.literal_eval(outcome.stdout.splitlines()[-1].replace("true", "True"))
    return result


def report_zygote(outcome: Outcome) -> int:
    return int(report(outcome)["id"])


def assert_clean(reports: dict[int, Any]) -> None:
    for zygote, rep in reports.items():
        assert rep["controls"] == ["self_heap", "self_mmap"], f"the scan is blind: {rep}"
        assert rep["scanned_mib"] > 4, f"the scan read too little: {rep}"
        assert rep["found"] == [], f"zygote {zygote}: a job found earlier jobs' {rep['found']}"


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(workers=WORKERS, limits=LIMITS) as sandbox:
        yield sandbox


def test_script_jobs_find_nothing_of_earlier_jobs(sb: Sandbox) -> None:
    probe = Script(source=f"P = {{'needles': {needles()!r}}}\n{SCAN}")
    assert_clean(on_every_zygote(sb, lambda: [probe] * WORKERS))


def test_call_jobs_find_nothing_of_earlier_jobs(sb: Sandbox) -> None:
    probe = Call(source=f"P = {{'call': True}}\n{SCAN}", function="scan", args=(repr(needles()),))
    assert_clean(on_every_zygote(sb, lambda: [probe] * WORKERS))


# -- the copier, end to end ------------------------------------------------------------------------

CODE = "def f(s):\n    return s[::-1].upper() + '#' + str(len(s) * 7)\n"
INPUTS = ("'alpha'", "'bravo charlie'", "'delta'", "'echo foxtrot golf'", "'hotel'")
RIGHT = f"```python\n{CODE}```"


def copier(k: int) -> str:
    """A distinct copier completion (graders deduplicate identical answers)."""
    return f"```python\nP = {{'call': True, 'copier': {k}}}\n{SCAN}```"


async def _problem(sandbox: Sandbox) -> Problem:
    draft = Draft(env="induction", code=CODE, inputs=INPUTS, message="reverse, shout, count")
    problem = await envs.get("induction").validate(draft, sandbox)
    assert isinstance(problem, Problem), problem
    return problem


def _answer(completion: str) -> str:
    answer = Induction().extract(completion)
    assert answer is not None
    return answer


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_copiers_get_nothing_through_env_grade(sb: Sandbox) -> None:
    env = Induction()
    problem = await _problem(sb)
    # The right answer runs on every zygote first, so its outputs (held-out ones included)
    # went through each of them before any copier runs there.
    right = Call(source=CODE, function="f", args=problem.inputs)
    for _ in range(3):
        assert all(o.ok for o in await sb.run_many([right] * (2 * WORKERS)))
    answers = [_answer(RIGHT)] + [_answer(copier(k)) for k in range(7)]
    grades = await env.grade(problem, answers, sb)
    assert grades[0].reward == 1.0, grades[0]
    for g in grades[1:]:
        assert g.reward == 0.0, g
        assert "control" not in g.reason, f"the copier cannot see its own memory: {g}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_grpo_group_copiers_get_zero_through_get_reward(sb: Sandbox) -> None:
    """A real ``stepstones serve`` on loopback: 1 right answer and 7 copiers in one group get
    [1, 0, ..., 0]; and no ``/run_code`` client reads another's source, stdin or output."""
    problem = anyio.run(_problem, sb)
    label = records.encode_json(problem).decode()
    port = _free_port()
    argv = [sys.executable, "-m", "stepstones.cli", "serve", "--port", str(port)]
    argv += ["--workers", str(WORKERS)]
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(proc, url)

            def rewards(completions: list[str]) -> list[float]:
                body = {
                    "query": completions,
                    "prompts": [""] * len(completions),
                    "labels": [label] * len(completions),
                }
                reply = httpx.post(url + "/get_reward", json=body, timeout=120)
                assert reply.status_code == 200, reply.text
                return [float(r) for r in reply.json()["rewards"]]

            # The right answer first, several at once, so it runs on every zygote.
            assert rewards([RIGHT] * (2 * WORKERS)) == [1.0] * (2 * WORKERS)
            got = rewards([RIGHT] + [copier(k) for k in range(7)])
            assert got == [1.0] + [0.0] * 7, got

            # Between /run_code clients: one plants (source, stdin, output), the next scans.
            def run_code(code: str, stdin: str = "") -> dict[str, Any]:
                body = {"code": code, "stdin": stdin, "run_timeout": 20}
                reply = httpx.post(url + "/run_code", json=body, timeout=120)
                assert reply.status_code == 200, reply.text
                result: dict[str, Any] = reply.json()
                return result

            probe = f"P = {{'needles': {needles()!r}}}\n{SCAN}"
            for _ in range(3):
                for _ in range(2 * WORKERS):
                    planted = run_code(PLANT_SCRIPT.source, PLANT_SCRIPT.stdin)
                    assert planted["status"] == "Success", planted
                scan = run_code(probe)
                assert scan["status"] == "Success", scan
                rep = ast.literal_eval(scan["run_result"]["stdout"].splitlines()[-1])
                assert rep["controls"] == ["self_heap", "self_mmap"], rep
                assert rep["found"] == [], f"a /run_code client found another's {rep['found']}"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_generate_student_finds_no_teacher_source_or_gold() -> None:
    """generate: the teacher's draft is validated on the only zygote, then the student's answers
    (copiers) run there; they must neither reproduce the gold outputs nor find the source."""

    teacher_reply = (
        f"```python\n# {marker('src')}\n{CODE}```\n"
        + "\n".join(f"```input\n{i}\n```" for i in INPUTS)
        + "\n```message\nreverse it, shout it, and count\n```\n"
    )

    def play(body: dict[str, Any]) -> dict[str, Any]:
        if body["model"] == "teacher":
            return completion([teacher_reply])
        n = int(body.get("n", 1))
        return completion([copier(k) for k in range(n)])

    async def main() -> Any:

        with Sandbox(workers=1, limits=LIMITS) as sandbox:
            async with ScriptedLLMServer(play) as srv:
                async with (
                    Client(Endpoint(base_url=srv.base_url, model="teacher")) as teacher,
                    Client(Endpoint(base_url=srv.base_url, model="student")) as student,
                ):
                    ctx = TurnContext(
                        env=envs.get("induction"),
                        teacher=teacher,
                        student=student,
                        sandbox=sandbox,
                        config=Config(samples=4, max_turns=1),
                    )
                    seed = Seed(id="s", text=CODE, source="t.py", start_line=1, end_line=2)
                    chain = await run_chain(ctx, seed, "adaptive")
                # The same zygote, after the turn: does any byte of the draft remain?
                scan = Script(source=f"P = {{'needles': {needles()!r}}}\n{SCAN}")
                return chain, await sandbox.run(scan)

    chain, scanned = anyio.run(main)
    turn = chain.turns[0]
    assert turn.problem is not None, turn
    assert len(turn.grades) == 4
    for g in turn.grades:
        assert g.reward == 0.0, g
        assert "control" not in g.reason, f"the copier cannot see its own memory: {g}"
    assert report(scanned)["found"] == [], report(scanned)
