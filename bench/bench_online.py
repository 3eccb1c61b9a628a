"""Online mode on the CPU: a trainer-shaped loop with the embedded local model as the policy,
``stepstones serve --ledger`` for rewards and ``stepstones online`` beside it.

Each step takes P prompts from the live dataset (TRL rows drawn by the live schedule), asks the
policy for G answers per prompt and posts each answer to the reward server as OpenRLHF does
(one item per request). Two phases on one run directory, the same loop in both:

- **off**: the online teacher is not running (baseline for reward latency);
- **on**: ``stepstones online`` runs beside the server, the local model its teacher and student.

Reports: stones added per hour (phase on); the fraction of new stones whose live pass rate on
their first sampled batch (the G answers of the step that first drew them) lands in the band
(0 < p <= 0.65, the online teacher's rule); reward latency p50/p99 (wall seconds of each
``POST /get_reward``) with the online teacher off and on, and their ratio. Checks: every reward
is 0 or 1 and matches a grade computed here in the sandbox for the same answer.

``--policy scripted`` swaps the model for a scripted OpenAI-compatible server (a protocol
fixture: it solves the first base problem, never the others, half of every stone) — quick, for
reward latency and plumbing only; ``--quick`` implies it.

    nice -n 10 .venv/bin/python bench/bench_online.py --steps-off 2 --steps-on 6 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx

from _common import Report, check

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from stepstones import envs  # noqa: E402
from stepstones.online import read_stones, read_tries  # noqa: E402
from stepstones.online.trl import LiveTRL  # noqa: E402
from stepstones.records import Draft, Message, Problem  # noqa: E402
from stepstones.sandbox import Sandbox  # noqa: E402

PROMPT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
#: Base problems: (code, inputs, message). The first is trivial for a 0.5B coder, the last two
#: are rarely solved by it, so both directions of the online teacher get work.
BASE = (
    ("def f(x):\n    return x + 1\n", ("1", "2", "3", "7", "10"), "BASE-1: add one"),
    ("def f(x):\n    return x * 2\n", ("1", "2", "3", "7", "10"), "BASE-2: double it"),
    (
        "def f(xs):\n    return sorted(set(xs), key=lambda v: (v % 3, -v))\n",
        ("[1, 2, 3, 4]", "[5, 5, 9]", "[7, 3, 6, 1]", "[0, 8, 2]", "[4, 4, 11, 10]"),
        "BASE-3: distinct values, grouped by remainder mod 3, larger first in a group",
    ),
    (
        "def f(s):\n    return ''.join(c for i, c in enumerate(s) if i % 3 != 1)[::-1]\n",
        ("'abcdef'", "'hello world'", "'xyz'", "'stepping'", "'a'"),
        "BASE-4: drop every third letter starting at the second, then reverse",
    ),
)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the results here as JSON")
    parser.add_argument("--repeats", type=int, default=1, help="(unused: one run per phase)")
    parser.add_argument("--quick", action="store_true", help="scripted policy, few steps")
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--policy", choices=("local", "scripted"), default="local")
    parser.add_argument("--steps-off", type=int, default=3, help="steps without the teacher")
    parser.add_argument("--steps-on", type=int, default=8, help="steps with the teacher")
    parser.add_argument(
        "--minutes",
        type=float,
        default=30.0,
        help="wall budget of both phases: off gets at most a third, on stops at the end",
    )
    parser.add_argument(
        "--min-phase-s", type=float, default=0.0, help="keep stepping in each phase this long"
    )
    parser.add_argument("--prompts", type=int, default=2, help="P, prompts per step")
    parser.add_argument("--answers", type=int, default=4, help="G, answers per prompt")
    parser.add_argument("--window", type=int, default=4, help="ledger window W")
    parser.add_argument("--max-tokens", type=int, default=192, help="policy answer length")
    args = parser.parse_args(argv)
    if args.quick:
        args.policy = "scripted"
        args.steps_off, args.steps_on = min(args.steps_off, 3), min(args.steps_on, 12)
        args.min_phase_s = max(args.min_phase_s, 20.0)
    return args


def _scripted(body: dict[str, Any]) -> dict[str, Any]:
    """The scripted policy/teacher/student (a protocol fixture): solves BASE-1, fails the
    rest; as teacher, answers with a fixed harder or easier variant; solves half of those."""
    from stepstones.testing import completion

    messages, n = body["messages"], int(body.get("n") or 1)
    text = "\n".join(m["content"] for m in messages)
    if any(m["role"] == "system" for m in messages):
        k = 3 if "HARDER variant" in messages[-1]["content"] else 1
        tag = "STONE-UP" if k == 3 else "STONE-DOWN"
        blocks = [f"```python\ndef f(x):\n    return x * {k} + {len(text) % 7}\n```"]
        blocks += [f"```input\n{i}\n```" for i in (1, 2, 3, 4, 5)]
        blocks.append(f"```message\n{tag}: scale by {k}, then shift\n```")
        return completion(["\n".join(blocks)])
    if "STONE-" in text:
        shift = re.search(r"f\(1\) == (-?\d+)", text)
        k = 3 if "STONE-UP" in text else 1
        b = int(shift.group(1)) - k if shift else 0
        right = f"```python\ndef f(x):\n    return x * {k} + {b}\n```"
        return completion([right if i % 2 == 0 else "```python\ndef f(x):\n    return 0\n```"
                           for i in range(n)])  # fmt: skip
    if "BASE-1" in text:
        return completion(["```python\ndef f(x):\n    return x + 1\n```"] * n)
    return completion(["```python\ndef f(x):\n    return x\n```"] * n)


class Proc:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "stepstones.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
            )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)


async def _serve(run: Path, window: int, log: Path) -> tuple[Proc, str]:
    proc = Proc(["serve", "--port", "0", "--ledger", str(run), "--ledger-window", str(window),
                 "--log-level", "warning"], log)  # fmt: skip
    found = await _wait_for(proc, r"rewards at (http://\S+)/get_reward")
    return proc, found


async def _wait_for(proc: Proc, pattern: str, timeout_s: float = 120) -> str:
    """The first match of ``pattern`` in the process's log, once it appears."""
    with anyio.fail_after(timeout_s):
        while True:
            text = await anyio.Path(proc.log).read_text()
            check(proc.popen.poll() is None, f"{proc.log.name}: exited: {text[-2000:]}")
            found = re.findall(pattern, text)
            if found:
                return str(found[-1])
            await anyio.sleep(0.1)


class Loop:
    """The trainer-shaped loop and what it measured."""

    def __init__(self, live: LiveTRL, chat: Any, reward_url: str, args: argparse.Namespace):
        self.live, self.chat, self.reward_url, self.args = live, chat, reward_url, args
        self.rows = live.rows()
        self.step = 0
        self.latency_s: list[float] = []
        self.first_batch: dict[str, list[float]] = {}  # stone id -> rewards of its first step
        self.rewards: list[tuple[Problem, str, float]] = []
        self.deadline = float("inf")  # perf_counter time: no new prompt is started after it
        self.stopped = False  # a signal asked for the results so far

    async def one_step(self, client: httpx.AsyncClient) -> None:
        from stepstones import records

        self.step += 1
        seen_now: dict[str, list[float]] = {}
        for _ in range(self.args.prompts):
            if time.perf_counter() >= self.deadline:
                break
            row = next(self.rows)
            problem = records.decode_json(row["label"], Problem)
            messages = [Message(m["role"], m["content"]) for m in row["prompt"]]
            answers = await self.chat(messages, self.args.answers)
            prompt = PROMPT.format(row["prompt"][-1]["content"])
            for answer in answers:
                body = {"query": [prompt + answer], "prompts": [prompt],
                        "labels": [row["label"]], "step": self.step}  # fmt: skip
                started = time.perf_counter()
                reply = await client.post(f"{self.reward_url}/get_reward", json=body)
                self.latency_s.append(time.perf_counter() - started)
                check(reply.status_code == 200, f"reward request failed: {reply.text}")
                (reward,) = reply.json()["rewards"]
                check(reward in (0.0, 1.0), f"reward {reward} is not binary")
                self.rewards.append((problem, answer, reward))
                seen_now.setdefault(problem.id, []).append(reward)
        for pid, got in seen_now.items():
            if self.live.schedule.is_stone(pid) and pid not in self.first_batch:
                self.first_batch[pid] = got


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _check_rewards(loop: Loop, sandbox: Sandbox) -> int:
    """Regrade every answer here; each reward must agree with the sandbox's grade."""
    env = envs.get("induction")
    for problem, answer, reward in loop.rewards:
        (grade,) = await env.grade(problem, [env.extract(answer)], sandbox)
        check(grade.reward == reward, f"reward {reward} but the grade here is {grade.reward}")
    return len(loop.rewards)


async def run(args: argparse.Namespace, report: Report) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-online-"))
    run_dir = work / "run"
    run_dir.mkdir()
    procs: list[Proc] = []
    with Sandbox(workers=1) as sandbox:
        base = []
        for code, inputs, message in BASE:
            draft = Draft(env="induction", code=code, inputs=inputs, message=message)
            problem = await envs.get("induction").validate(draft, sandbox)
            check(isinstance(problem, Problem), f"base problem rejected: {problem}")
            base.append(problem)
        async with contextlib.AsyncExitStack() as stack:
            if args.policy == "local":
                from stepstones.llm import Client, Sampling, local_endpoint

                endpoint = await stack.enter_async_context(local_endpoint())
                client = await stack.enter_async_context(Client(endpoint))
                llm_url, model = endpoint.base_url, endpoint.model
                sampling = Sampling(temperature=1.0, max_tokens=args.max_tokens)

                async def chat(messages: list[Message], n: int) -> list[str]:
                    result = await client.chat(messages, sampling, n)
                    return [c.text for c in result.choices]
            else:
                from stepstones.testing import ScriptedLLMServer

                server = await stack.enter_async_context(ScriptedLLMServer(_scripted))
                llm_url, model = server.base_url, "scripted"
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=60))

                async def chat(messages: list[Message], n: int) -> list[str]:
                    body = {
                        "model": model,
                        "n": n,
                        "messages": [{"role": m.role, "content": m.content} for m in messages],
                    }
                    got = (await http.post(f"{llm_url}/chat/completions", json=body)).json()
                    return [c["message"]["content"] for c in got["choices"]]

            try:
                serve, url = await _serve(run_dir, args.window, work / "serve.log")
                procs.append(serve)
                live = LiveTRL(run_dir, base, window=args.window, refresh_every=1)
                loop = Loop(live, chat, url, args)
                async with (
                    httpx.AsyncClient(timeout=900) as client_http,
                    anyio.create_task_group() as tg,
                ):
                    tg.start_soon(_stop_on_signal, loop, report)
                    await loop.one_step(client_http)  # warm-up (cold server), not measured
                    loop.latency_s.clear()
                    started, done = time.perf_counter(), 0
                    budget_s = args.minutes * 60
                    deadline = started + budget_s
                    loop.deadline = started + budget_s / 3
                    while (
                        (done < args.steps_off or time.perf_counter() - started < args.min_phase_s)
                        and time.perf_counter() - started < budget_s / 3
                        and not loop.stopped
                    ):
                        await loop.one_step(client_http)
                        done += 1
                    off = list(loop.latency_s)
                    steps_off = done
                    online = Proc(
                        ["online", str(run_dir), "--teacher-url", llm_url, "--teacher-model",
                         model, "--window", str(args.window), "--samples", str(args.answers),
                         "--poll-interval-s", "1", "--concurrency", "1", "--sandbox-workers", "1",
                         "--request-timeout-s", "900"]
                        + (["--config", str(_local_config(work, args))]
                           if args.policy == "local" else []),
                        work / "online.log",
                    )  # fmt: skip
                    procs.append(online)
                    await _wait_for(online, r"(watching)")
                    loop.deadline = deadline
                    started = time.perf_counter()
                    done = 0
                    while done < args.steps_on or time.perf_counter() - started < args.min_phase_s:
                        if loop.stopped:
                            break
                        if time.perf_counter() >= deadline:
                            report.note(f"phase on cut at the {args.minutes} min budget")
                            break
                        await loop.one_step(client_http)
                        done += 1
                    on_s = time.perf_counter() - started
                    on = loop.latency_s[len(off) :]
                    tg.cancel_scope.cancel()
            finally:
                for proc in procs:
                    proc.stop()
        checked = await _check_rewards(loop, sandbox)
    stones = [s for s in read_stones(run_dir)]
    tries = read_tries(run_dir)
    in_band = [0 < statistics.mean(r) <= 0.65 for r in loop.first_batch.values()]
    report.metric("policy", args.policy)
    report.metric("steps_off", steps_off)
    report.metric("steps_on", loop.step - 1 - steps_off)
    report.metric("rewards_checked", checked)
    report.metric("teacher_tries", len(tries))
    report.metric("stones_added", len(stones))
    report.metric("stones_viable", sum(s.viable for s in stones))
    report.metric("phase_on_s", on_s)
    report.metric("stones_per_hour", len(stones) / on_s * 3600 if on_s else 0.0)
    report.metric("stones_sampled", len(loop.first_batch))
    report.metric("first_batch_in_band_fraction",
                  sum(in_band) / len(in_band) if in_band else None)  # fmt: skip
    for name, values in (("off", off), ("on", on)):
        for q, label in ((0.5, "p50"), (0.99, "p99")):
            value = _pct(values, q)
            report.metric(
                f"reward_latency_{name}_{label}_ms", None if value is None else 1e3 * value
            )
        report.metric(f"reward_requests_{name}", len(values))
    p50_on, p50_off = _pct(on, 0.5), _pct(off, 0.5)
    if p50_on is not None and p50_off is not None:
        report.ratio("reward_p50_on_vs_off", p50_on, p50_off, better="lower")
    report.extra["stones"] = [
        {"id": s.id, "instruction": s.instruction, "parent": s.parent_id,
         "parent_live": s.parent_pass_rate, "student": s.problem.pass_rate,
         "first_batch": loop.first_batch.get(s.id)}
        for s in stones
    ]  # fmt: skip
    report.note(f"run directory kept in {work} (serve.log, online.log, ledger/, online/)")


def _local_config(work: Path, args: argparse.Namespace) -> Path:
    """The online teacher's settings with the 0.5B model: short replies, M = G samples."""
    path = work / "online.toml"
    path.write_text(
        f"samples = {args.answers}\n"
        '[teacher_sampling]\ntemperature = 0.7\nmax_tokens = 512\nreasoning_effort = ""\n'
        f"[student_sampling]\ntemperature = 1.0\nmax_tokens = {args.max_tokens}\n"
        'reasoning_effort = ""\n'
    )
    return path


async def _stop_on_signal(loop: Loop, report: Report) -> None:
    """SIGTERM/SIGINT: finish the prompt in flight, then report what was measured so far."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            loop.stopped, loop.deadline = True, 0.0
            report.note(f"stopped by {signal.Signals(signum).name}: partial results")
            return


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    report = Report("online", args)
    print(f"bench_online: policy {args.policy}, {args.steps_off}+{args.steps_on} steps", flush=True)
    try:
        anyio.run(run, args, report)
    except Exception as exc:
        return report.finish(exc)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
