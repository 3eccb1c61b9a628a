"""The pipeline's own cost: chats in flight, CPU per turn, and where a turn's time goes.

Two parts, both against scripted OpenAI-compatible servers on loopback that run in separate
processes (so their CPU is not counted) and the real sandbox:

1. **In flight.** The runner grows 1,000 deduction chains at once (200 with ``--quick``; two
   turns, M=4, into a real run store) against a server that answers every request after
   ``DELAY_S`` (10 s). Reported: the peak number of chats in flight and the seconds spent at
   or above 1,000 (sampled every 0.1 s at the SDK's chat interface), chains/s, and this
   process's CPU (user + system, RUSAGE_SELF: the sandbox's zygotes are other processes) per
   turn. Baseline in the same run: the same client sending as many bare chats, as many at once
   as there are chains; the ratio says what a whole turn (prompting, parsing, validation and
   grading orchestration, summary, store) costs the SDK over its two bare chats. A round
   takes about a minute, so this part uses at most 3 interleaved rounds.
2. **One turn, M = 32.** Turns run one after another against an instant server, for deduction
   (grading needs no fork) and induction (one child per answer). Each phase is timed at the
   environment and chat interfaces (teacher chat, parse, validation in the sandbox, student
   chat with n=32, extraction, grading, the rest): medians per turn.

Every answer is checked: every chain has the scripted number of turns, every problem is valid
and measured at the scripted pass rate.

Run: ``.venv/bin/python bench/bench_pipeline.py [--quick] [--repeats N] [--json PATH]``.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, check, interleave, median, parse_args

_SERVE_FLAG = "--serve-scripted"
DELAY_S = 10.0  # seconds before every answer in part 1 (a long generation takes as long)
TARGET_IN_FLIGHT = 1000
PASS_RATE = 0.5  # the scripted student answers right on even-numbered choices


def _problem_reply(k: int) -> str:
    inputs = "\n".join(f"```input\n{i}\n```" for i in range(1, 6))
    return (
        f"```python\ndef f(x):\n    return x + {k}\n```\n{inputs}\n"
        f"```message\nAdds a fixed number.\n```\n"
    )


def _answer(env: str, k: int, right: bool) -> str:
    if env == "induction":
        sign = "+" if right else "-"
        return f"Sure.\n```python\ndef f(x):\n    return x {sign} {k}\n```"
    return f"It returns this.\n```output\n{1 + k if right else -1}\n```"


def _serve(delay_s: float) -> None:
    """Child process: the scripted teacher/student until stdin closes; prints its URL first."""
    from stepstones.testing import ScriptedLLMServer, completion

    counter = [0]

    async def handler(body: dict[str, Any]) -> dict[str, Any]:
        if delay_s:
            await anyio.sleep(delay_s)
        prompt = body["messages"][-1]["content"]
        if body["model"] == "teacher":
            counter[0] += 1
            return completion([_problem_reply(counter[0])])
        env = "deduction" if "```output" in prompt else "induction"
        code = re.search(r"return x \+ (\d+)", prompt)
        if code is not None:  # deduction: the student sees f
            k = int(code.group(1))
        else:  # induction: the student sees f(i) == i + k pairs
            pair = re.search(r"f\((\d+)\) == (-?\d+)", prompt)
            check(pair is not None, "no I/O pair in the induction prompt")
            assert pair is not None
            k = int(pair.group(2)) - int(pair.group(1))
        n = int(body.get("n", 1))
        return completion([_answer(env, k, i % 2 == 0) for i in range(n)])

    async def main() -> None:
        async with ScriptedLLMServer(handler) as srv:
            print(srv.base_url, flush=True)
            await anyio.to_thread.run_sync(sys.stdin.read)

    anyio.run(main)


class _Server:
    """The scripted server in a child process, stopped by closing its stdin."""

    def __init__(self, delay_s: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, _SERVE_FLAG, str(delay_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        check(self.url.startswith("http://127.0.0.1:"), f"server did not start: {self.url!r}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Counting:
    """Counts chats in flight at the SDK's chat interface (forwards to a real client)."""

    def __init__(self, inner: Any, shared: dict[str, int]) -> None:
        self.inner, self.shared = inner, shared

    async def chat(self, messages: Sequence[Any], sampling: Any, n: int = 1) -> Any:
        self.shared["now"] += 1
        self.shared["peak"] = max(self.shared["peak"], self.shared["now"])
        self.shared["chats"] += 1
        try:
            return await self.inner.chat(messages, sampling, n)
        finally:
            self.shared["now"] -= 1


def _check_chain(chain: Any, turns: int, samples: int) -> None:
    check(len(chain.turns) == turns, f"chain has {len(chain.turns)} turns, expected {turns}")
    for turn in chain.turns:
        check(turn.rejection is None, f"turn rejected: {turn.rejection}")
        check(turn.summary is not None and turn.summary.n_attempts == samples, "bad attempts")
        check(turn.summary.pass_rate == PASS_RATE, f"pass rate {turn.summary.pass_rate}")


# --- part 1: chats in flight ------------------------------------------------------------------


def _in_flight(url: str, sandbox: Any, chains: int, report_into: dict[str, float]) -> None:
    from stepstones.envs import get
    from stepstones.llm import Client, Endpoint
    from stepstones.pipeline import Config, Job, Manifest, Runner, RunStore, TurnContext
    from stepstones.records import Seed

    config = Config(samples=4, max_turns=2, chat_timeout_s=300.0)
    jobs = [
        Job(
            seed=Seed(id=f"s{i}", text=f"x = {i}\n", source="b.py", start_line=1, end_line=1),
            env="deduction",
            mode="adaptive",
        )
        for i in range(chains)
    ]
    shared = {"now": 0, "peak": 0, "chats": 0}
    samples: list[int] = []

    async def main() -> None:
        endpoint = Endpoint(base_url=url, model="teacher", max_concurrency=4 * chains)
        student_ep = Endpoint(base_url=url, model="student", max_concurrency=4 * chains)
        async with Client(endpoint) as teacher, Client(student_ep) as student:
            ctx = TurnContext(
                env=get("deduction"),
                teacher=_Counting(teacher, shared),
                student=_Counting(student, shared),
                sandbox=sandbox,
                config=config,
                sandbox_slots=anyio.CapacityLimiter(8),
            )
            with tempfile.TemporaryDirectory() as tmp:
                got: list[Any] = []
                with RunStore.open(tmp, Manifest(config=config)) as store:
                    runner = Runner(
                        {"deduction": ctx},
                        store=store,
                        chains_in_flight=chains,
                        on_chain=got.append,
                    )
                    cpu0, t0 = _cpu_s(), time.perf_counter()
                    try:
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(_sample_in_flight, shared, samples)
                            await runner.run(jobs, chains=chains)
                            tg.cancel_scope.cancel()
                    except BaseExceptionGroup as group:
                        raise RuntimeError(f"the runner crashed: {_summary(group)}") from group
                    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        check(len(got) == chains, f"{len(got)} chains stored, expected {chains}")
        for chain in got:
            _check_chain(chain, 2, 4)
        report_into.setdefault("wall_s", 0.0)
        report_into["wall_s"] = wall
        report_into["cpu_s"] = cpu
        report_into["peak"] = shared["peak"]
        wanted = min(TARGET_IN_FLIGHT, chains)
        report_into["sustained_s"] = _SAMPLE_S * sum(1 for n in samples if n >= wanted)
        report_into["chats"] = shared["chats"]

    anyio.run(main)


_SAMPLE_S = 0.1


async def _sample_in_flight(shared: dict[str, int], samples: list[int]) -> None:
    """Chats in flight every _SAMPLE_S seconds, to tell a sustained level from a spike."""
    while True:
        samples.append(shared["now"])
        await anyio.sleep(_SAMPLE_S)


def _summary(group: BaseExceptionGroup[Any]) -> str:
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(exc.exceptions)
        else:
            leaves.append(exc)
    kinds = sorted({f"{type(e).__name__}: {str(e)[:160]}" for e in leaves})
    return f"{len(leaves)} errors, e.g. " + " | ".join(kinds[:3])


def _bare_chats(url: str, n: int, concurrency: int, report_into: dict[str, float]) -> None:
    from stepstones.llm import Client, Endpoint, Sampling
    from stepstones.records import Message

    async def main() -> None:
        endpoint = Endpoint(base_url=url, model="teacher", max_concurrency=concurrency)
        async with Client(endpoint) as client:
            results: list[Any] = []
            limiter = anyio.CapacityLimiter(concurrency)

            async def one(i: int) -> None:
                async with limiter:
                    res = await client.chat([Message("user", f"bare {i}")], Sampling(), 1)
                results.append(res)

            cpu0, t0 = _cpu_s(), time.perf_counter()
            try:
                async with anyio.create_task_group() as tg:
                    for i in range(n):
                        tg.start_soon(one, i)
            except BaseExceptionGroup as group:
                raise RuntimeError(f"bare chats failed: {_summary(group)}") from group
            report_into["wall_s"] = time.perf_counter() - t0
            report_into["cpu_s"] = _cpu_s() - cpu0
        check(len(results) == n, "bare chats missing")
        check(all("```python" in r.choices[0].text for r in results), "bare chat answer wrong")

    anyio.run(main)


def _part_in_flight(report: Report, sandbox: Any, chains: int, repeats: int) -> None:
    server = _Server(DELAY_S)
    try:
        pipe: list[dict[str, float]] = []
        bare: list[dict[str, float]] = []
        turns = 2 * chains
        chats = 2 * turns

        def pipeline_case() -> None:
            pipe.append({})
            _in_flight(server.url, sandbox, chains, pipe[-1])

        def bare_case() -> None:
            bare.append({})
            _bare_chats(server.url, chats, chains, bare[-1])

        interleave({"pipeline": pipeline_case, "bare": bare_case}, repeats=repeats, warmup=0)
        pipe_cpu = median([r["cpu_s"] for r in pipe]) / turns
        bare_cpu = median([r["cpu_s"] for r in bare]) / chats
        report.metric("in_flight_chains", chains)
        report.metric("in_flight_peak_chats", int(median([r["peak"] for r in pipe])))
        report.metric(
            f"in_flight_s_at_or_above_{TARGET_IN_FLIGHT}", median([r["sustained_s"] for r in pipe])
        )
        report.metric("in_flight_server_delay_s", DELAY_S)
        report.metric("in_flight_wall_s", median([r["wall_s"] for r in pipe]))
        report.metric("in_flight_chains_per_s", chains / median([r["wall_s"] for r in pipe]))
        report.metric("in_flight_cpu_ms_per_turn", 1000 * pipe_cpu)
        report.metric("bare_chat_cpu_ms_per_chat", 1000 * bare_cpu)
        report.ratio("turn_cpu_vs_two_bare_chats", pipe_cpu, 2 * bare_cpu, better="lower")
        wanted = min(TARGET_IN_FLIGHT, chains)
        peak = median([r["peak"] for r in pipe])
        check(peak >= wanted, f"median peak of chats in flight {peak} < {wanted}")
        report.note(
            f"{chains} deduction chains x 2 turns (M=4) at once; every request answered after "
            f"{DELAY_S} s by a server in another process; CPU = RUSAGE_SELF of this process"
        )
    finally:
        server.close()


# --- part 2: one turn with M = 32 -------------------------------------------------------------


class _TimedEnv:
    """Forwards to a real environment and times each phase the turn calls."""

    def __init__(self, inner: Any, times: dict[str, float]) -> None:
        self.inner, self.times, self.name = inner, times, inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _add(self, phase: str, t0: float) -> None:
        self.times[phase] = self.times.get(phase, 0.0) + time.perf_counter() - t0

    def parse(self, reply: str, *, reasoning: str = "") -> Any:
        t0 = time.perf_counter()
        try:
            return self.inner.parse(reply, reasoning=reasoning)
        finally:
            self._add("parse", t0)

    async def validate(self, draft: Any, sandbox: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await self.inner.validate(draft, sandbox, **kw)
        finally:
            self._add("validate", t0)

    def extract(self, completion: str) -> Any:
        t0 = time.perf_counter()
        try:
            return self.inner.extract(completion)
        finally:
            self._add("extract", t0)

    async def grade(self, problem: Any, answers: Any, sandbox: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await self.inner.grade(problem, answers, sandbox)
        finally:
            self._add("grade", t0)


class _TimedChat:
    def __init__(self, inner: Any, phase: str, times: dict[str, float]) -> None:
        self.inner, self.phase, self.times = inner, phase, times

    async def chat(self, messages: Sequence[Any], sampling: Any, n: int = 1) -> Any:
        t0 = time.perf_counter()
        try:
            return await self.inner.chat(messages, sampling, n)
        finally:
            self.times[self.phase] = self.times.get(self.phase, 0.0) + time.perf_counter() - t0


PHASES = ("teacher_chat", "parse", "validate", "student_chat", "extract", "grade")


def _turns(url: str, sandbox: Any, env: str, turns: int) -> list[dict[str, float]]:
    from stepstones.envs import get
    from stepstones.llm import Client, Endpoint
    from stepstones.pipeline import Config, TurnContext, run_turn
    from stepstones.records import Seed

    config = Config(samples=32, max_turns=1)
    seed = Seed(id="s", text="x = 1\n", source="b.py", start_line=1, end_line=1)
    rows: list[dict[str, float]] = []

    async def main() -> None:
        async with (
            Client(Endpoint(base_url=url, model="teacher")) as teacher,
            Client(Endpoint(base_url=url, model="student")) as student,
        ):
            for i in range(turns):
                times: dict[str, float] = {}
                environment = _TimedEnv(get(env), times)
                ctx = TurnContext(
                    env=environment,  # type: ignore[arg-type]
                    teacher=_TimedChat(teacher, "teacher_chat", times),
                    student=_TimedChat(student, "student_chat", times),
                    sandbox=sandbox,
                    config=config,
                )
                messages = environment.seed_prompt(seed)
                cpu0, t0 = _cpu_s(), time.perf_counter()
                turn = await run_turn(ctx, i, "seed", messages, seed_id=seed.id, parent_id=None)
                times["total"] = time.perf_counter() - t0
                times["cpu"] = _cpu_s() - cpu0
                times["other"] = times["total"] - sum(times.get(p, 0.0) for p in PHASES)
                check(turn.rejection is None, f"{env} turn rejected: {turn.rejection}")
                check(turn.summary is not None, "turn not measured")
                check(turn.summary.n_attempts == 32, "not 32 attempts")
                check(turn.summary.pass_rate == PASS_RATE, f"pass rate {turn.summary.pass_rate}")
                rows.append(times)

    anyio.run(main)
    return rows


def _part_turn(report: Report, sandbox: Any, turns: int) -> None:
    server = _Server(0.0)
    try:
        for env in ("deduction", "induction"):
            rows = _turns(server.url, sandbox, env, turns)
            total = median([r["total"] for r in rows])
            report.metric(f"turn_m32_{env}_ms", 1000 * total)
            for phase in (*PHASES, "other"):
                report.metric(
                    f"turn_m32_{env}_{phase}_ms", 1000 * median([r.get(phase, 0.0) for r in rows])
                )
            report.metric(f"turn_m32_{env}_cpu_ms", 1000 * median([r["cpu"] for r in rows]))
            chats = median([r["teacher_chat"] + r["student_chat"] for r in rows])
            report.ratio(f"turn_m32_{env}_total_vs_its_two_chats", total, chats, better="lower")
        report.note(
            f"{turns} sequential turns per environment against an instant server in another "
            "process; phases timed at the environment and chat interfaces; 'other' is the "
            "pipeline's own code between them"
        )
    finally:
        server.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args("pipeline: chats in flight, CPU per turn, where a turn's time goes", argv)
    report = Report("pipeline", args)
    try:
        from stepstones.sandbox import Sandbox

        with Sandbox() as sandbox:
            report.metric("sandbox_workers", sandbox.workers)
            chains = 200 if args.quick else 1000
            # A round of part 1 takes about a minute: at most 3 rounds (median of 3).
            _part_in_flight(report, sandbox, chains, 1 if args.quick else min(3, args.repeats))
            _part_turn(report, sandbox, 5 if args.quick else 5 * args.repeats)
    except Exception as exc:
        return report.finish(exc)
    return report.finish()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == _SERVE_FLAG:
        _serve(float(sys.argv[2]))
        sys.exit(0)
    sys.exit(main())
