"""Client CPU per chat request: stepstones.llm.Client versus openai's AsyncOpenAI.

Both clients talk to the same scripted OpenAI-compatible server on loopback, which runs in a
separate process so that its CPU is not counted. Each round sends 1000 chat requests (200 with
``--quick``) with each client, in rotating order, at 16 and at 64 requests in flight (16 only
with ``--quick``); the metric is this process's CPU time (user + system) per request, median over
rounds. Every request carries a nonce that the server echoes back, and every answer is checked.
Goal: stepstones <= 0.5x openai. A third case, Client on httpx's default connection pool
(``stepstones_httpx_pool``), shows how much of the gap is the transport.

Run: ``.venv/bin/python bench/bench_llm_client.py [--quick] [--repeats N] [--json PATH]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, check, median, parse_args

_SERVE_FLAG = "--serve-scripted"
_ANSWER = "def f(x):\n    return x * x\n" * 8  # a realistic few-hundred-byte completion


def _serve() -> None:
    """Child process: run the scripted server until stdin closes; print its URL first."""
    from stepstones.testing import ScriptedLLMServer, completion

    def handler(body: dict[str, Any]) -> dict[str, Any]:
        nonce = body["messages"][-1]["content"]
        return completion([f"{nonce}\n{_ANSWER}"], reasoning="thinking " * 20)

    async def main() -> None:
        async with ScriptedLLMServer(handler) as srv:
            print(srv.base_url, flush=True)
            await anyio.to_thread.run_sync(sys.stdin.read)

    anyio.run(main)


Sender = Callable[[str], Awaitable[str]]


async def _batch(send: Sender, prefix: str, requests: int, concurrency: int) -> None:
    limiter = anyio.CapacityLimiter(concurrency)
    wrong: list[str] = []

    async def one(i: int) -> None:
        nonce = f"{prefix}-{i}"
        async with limiter:
            text = await send(nonce)
        if text != f"{nonce}\n{_ANSWER}":
            wrong.append(nonce)

    async with anyio.create_task_group() as tg:
        for i in range(requests):
            tg.start_soon(one, i)
    check(not wrong, f"{len(wrong)} wrong answers, e.g. {wrong[:3]}")


async def _run(base_url: str, report: Report, requests: int, levels: tuple[int, ...]) -> None:
    for concurrency in levels:
        await _run_level(base_url, report, requests, concurrency)


async def _run_level(base_url: str, report: Report, requests: int, concurrency: int) -> None:
    from openai import AsyncOpenAI

    from stepstones.llm import Client, Endpoint, Sampling
    from stepstones.records import Message

    system = Message("system", "You write Python.")
    sampling = Sampling(temperature=0.7, max_tokens=256)
    ep = Endpoint(base_url=base_url, model="m", api_key="sk-bench", max_concurrency=concurrency)
    pool = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=concurrency))
    async with (
        Client(ep) as ours,
        Client(ep, transport=pool) as ours_on_httpx,
        AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, timeout=60.0) as theirs,
    ):

        def sender(client: Client) -> Sender:
            async def send(nonce: str) -> str:
                res = await client.chat([system, Message("user", nonce)], sampling)
                check(res.choices[0].reasoning.startswith("thinking"), "reasoning lost")
                return res.choices[0].text

            return send

        async def send_openai(nonce: str) -> str:
            res = await theirs.chat.completions.create(
                model="m",
                messages=[
                    {"role": "system", "content": system.content},
                    {"role": "user", "content": nonce},
                ],
                temperature=0.7,
                max_tokens=256,
                n=1,
            )
            return res.choices[0].message.content or ""

        cases: dict[str, Sender] = {
            "stepstones": sender(ours),
            "openai": send_openai,
            "stepstones_httpx_pool": sender(ours_on_httpx),
        }
        for name, send in cases.items():  # warm up connections and caches
            await _batch(send, f"warm-{name}", concurrency, concurrency)
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        wall: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for round_no in range(report.args.repeats):
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                cpu0, wall0 = time.process_time(), time.perf_counter()
                await _batch(cases[name], f"{name}-{round_no}", requests, concurrency)
                cpu[name].append((time.process_time() - cpu0) / requests)
                wall[name].append(time.perf_counter() - wall0)
    tag = f"c{concurrency}"
    for name in names:
        report.metric(f"{name}_{tag}_cpu_us_per_request", median(cpu[name]) * 1e6)
        report.metric(f"{name}_{tag}_requests_per_s", requests / median(wall[name]))
    report.ratio(
        f"stepstones_vs_openai_cpu_per_request_{tag}",
        median(cpu["stepstones"]),
        median(cpu["openai"]),
        target=0.5,
        better="lower",
    )
    report.extra[f"cpu_s_per_request_{tag}"] = cpu


def main() -> int:
    if _SERVE_FLAG in sys.argv:
        _serve()
        return 0
    args = parse_args(__doc__.splitlines()[0])
    report = Report("bench_llm_client", args)
    requests = 200 if args.quick else 1000
    levels = (16,) if args.quick else (16, 64)
    report.metric("requests_per_round", requests)
    report.metric("concurrency_levels", ",".join(map(str, levels)))
    report.note("server in a separate process; metric = this process's CPU time per request")
    server = subprocess.Popen(
        [sys.executable, __file__, _SERVE_FLAG],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "python")},
    )
    error: BaseException | None = None
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        check(
            base_url.startswith("http://127.0.0.1:"), f"scripted server did not start: {base_url!r}"
        )
        anyio.run(_run, base_url, report, requests, levels)
    except Exception as exc:
        error = exc
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=30)
    return report.finish(error)


if __name__ == "__main__":
    raise SystemExit(main())
