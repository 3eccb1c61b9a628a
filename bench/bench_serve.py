"""Reward server throughput under OpenRLHF's pattern, per environment, vs a baseline server.

OpenRLHF posts one item per request, on a new connection each time, with about batch x n
requests in flight. This benchmark does the same against two servers, each in its own process:

- subject: ``stepstones serve`` (uvicorn + the stepstones ASGI app, sandbox zygotes, graders
  with the fork economy of docs/design.md §3: deduction needs no child, abduction/fuzzing one per
  batch, induction one per answer);
- baseline, written the usual way: uvicorn + a minimal ASGI app that cuts the response, takes
  the last fenced block and runs a check script with a fresh ``python -c`` subprocess per
  answer (at most 32 at once, like a default thread pool), reward 1 iff it prints ``True``.

Load: a lean asyncio client in this process (raw HTTP/1.1, ``Connection: close``, so its own
CPU stays small on a 2-core box); ``--concurrency`` requests in flight (default 1,000); half the
answers right, half wrong; every reward is checked. Reports rewards/s (median of interleaved
rounds) and p50/p99 latency per environment for both servers.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import Report, check, interleave, median, parse_args

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from stepstones import envs, records  # noqa: E402
from stepstones.records import ENVIRONMENTS, Draft, Env, Problem  # noqa: E402
from stepstones.sandbox import Sandbox  # noqa: E402

PROMPT = "<|im_start|>user\nsolve it<|im_end|>\n<|im_start|>assistant\n"
INPUTS = ("1", "2", "3", "4", "5")
GROUP = 8  # GRPO samples per prompt: 8 consecutive requests share a problem


def _draft(env: Env, k: int) -> Draft:
    """Problem k of an environment: f(x) = k*x + 1 (fuzzing: a bug for negative x)."""
    linear = f"def f(x):\n    return {k} * x + 1\n"
    if env == "fuzzing":
        code = (
            f"def f(x):\n    return abs(x) + {k}\n\n"
            "def pre_test_f(x):\n    return isinstance(x, int)\n\n"
            f"def test_f(x):\n    return f(x) == x + {k}\n"
        )
        return Draft(env=env, code=code, inputs=INPUTS, witness="-1")
    return Draft(env=env, code=linear, inputs=INPUTS, message="linear")


def _completion(env: Env, k: int, i: int) -> tuple[str, float]:
    """Request i's completion for problem k and its expected reward (even i: right)."""
    right = i % 2 == 0
    if env == "deduction":
        return f"f(1) = {k} + 1\n```output\n{k + 1 if right else k + 2}\n```", float(right)
    if env == "abduction":
        return f"```input\n{1 if right else 2}\n```", float(right)
    if env == "fuzzing":
        return f"```input\n{-3 if right else 3}\n```", float(right)
    # Induction answers are programs, each a different syntax tree (the server runs programs
    # that differ only in comments or layout once), so each one costs its own sandbox child.
    body = f"{k} * x + {1 if right else 2} + 0 * {i}"
    return f"```python\ndef f(x):\n    return {body}\n```", float(right)


# The baseline reward server, run as `python -c BASELINE PORT`.
BASELINE = r"""
import asyncio, json, re, sys
import uvicorn

LIMIT = asyncio.Semaphore(32)
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)

def script(problem, answer):
    env, code = problem["env"], problem["code"]
    if env == "deduction":
        return f"print(({answer}) == ({problem['outputs'][0]}))"
    if env == "abduction":
        return code + f"\nprint(f({answer}) == ({problem['outputs'][0]}))"
    if env == "induction":
        pairs = zip(problem["inputs"], problem["outputs"])
        checks = ", ".join(f"f({i}) == ({o})" for i, o in pairs)
        return answer + f"\nprint(all([{checks}]))"
    return code + f"\n_x = ({answer},)\nprint(bool(pre_test_f(*_x)) and not test_f(*_x))"

async def reward(query, prompt, label):
    problem = json.loads(label)["record"]
    response = query[len(prompt):] if query.startswith(prompt) else query
    response = response.split("<|im_end|>")[0]
    blocks = BLOCK.findall(response)
    if not blocks:
        return 0.0
    async with LIMIT:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script(problem, blocks[-1][1].strip()),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return 0.0
    return 1.0 if out.strip() == b"True" else 0.0

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            m = await receive()
            await send({"type": m["type"] + ".complete"})
            if m["type"] == "lifespan.shutdown":
                return
    body = b""
    while True:
        m = await receive()
        body += m.get("body", b"")
        if not m.get("more_body"):
            break
    status, out = 200, b'{"status":"ok"}'
    if scope["path"] == "/get_reward":
        req = json.loads(body)
        rewards = await asyncio.gather(*(reward(q, p, l) for q, p, l in
                                         zip(req["query"], req["prompts"], req["labels"])))
        out = json.dumps({"rewards": rewards, "scores": rewards, "extra_logs": {}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, backlog=4096)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(argv: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in s.recv(4096):
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server on port {port} did not become healthy")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _one(port: int, body: bytes) -> tuple[float, bytes]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /get_reward HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    writer.write(head + body)
    raw = await reader.read()
    writer.close()
    return time.perf_counter() - started, raw


async def _load(
    port: int, bodies: list[bytes], concurrency: int
) -> tuple[list[float], list[bytes]]:
    latencies: list[float] = [0.0] * len(bodies)
    replies: list[bytes] = [b""] * len(bodies)
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(bodies):
            i = next_index
            next_index += 1
            for attempt in range(5):  # like OpenRLHF: retry a refused/reset connection
                try:
                    latencies[i], replies[i] = await _one(port, bodies[i])
                    break
                except OSError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(bodies)))))
    return latencies, replies


def _rewards(replies: list[bytes]) -> list[float]:
    out = []
    for raw in replies:
        head, _, body = raw.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200"), f"non-200 reply: {head[:80]!r}")
        out.append(json.loads(body)["rewards"][0])
    return out


def _problems(n: int) -> dict[Env, list[Problem]]:
    async def validate_all() -> dict[Env, list[Problem]]:
        out: dict[Env, list[Problem]] = {}
        with Sandbox() as sb:
            for env in ENVIRONMENTS:
                out[env] = []
                for k in range(1, n + 1):
                    problem = await envs.get(env).validate(_draft(env, k), sb)
                    check(isinstance(problem, Problem), f"{env} draft {k} rejected: {problem}")
                    out[env].append(problem)  # type: ignore[arg-type]
        return out

    return asyncio.run(validate_all())


def _bodies(env: Env, labels: list[str], n: int) -> tuple[list[bytes], list[float]]:
    """n one-item request bodies, GROUP consecutive ones per problem, and expected rewards."""
    out, want = [], []
    for i in range(n):
        k = (i // GROUP) % len(labels)
        completion, expected = _completion(env, k + 1, i)
        item = {"query": [PROMPT + completion + "<|im_end|>"], "prompts": [PROMPT],
                "labels": [labels[k]]}  # fmt: skip
        out.append(json.dumps(item).encode())
        want.append(expected)
    return out, want


class _Load:
    """One timed case: all bodies against one server, rewards checked, latencies kept."""

    def __init__(
        self, port: int, bodies: list[bytes], want: list[float], concurrency: int, name: str
    ) -> None:
        self.port, self.bodies, self.want = port, bodies, want
        self.concurrency, self.name = concurrency, name
        self.latencies: list[float] = []

    def run(self) -> None:
        latencies, replies = asyncio.run(_load(self.port, self.bodies, self.concurrency))
        check(_rewards(replies) == self.want, f"the {self.name} server gave wrong rewards")
        self.latencies.extend(latencies)


def main(argv: list[str] | None = None) -> int:
    args = parse_args("reward server rewards/s under OpenRLHF's request pattern", argv)
    report = Report("serve", args)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    concurrency = 200 if args.quick else 1000
    n_subject = 600 if args.quick else 3000
    n_baseline = 96 if args.quick else 400
    n_problems = 16 if args.quick else 64
    servers: list[subprocess.Popen[bytes]] = []
    try:
        problems = _problems(n_problems)
        sub_port, base_port = _free_port(), _free_port()
        cli = [sys.executable, "-m", "stepstones.cli", "serve", "--port", str(sub_port)]
        servers.append(_start([*cli, "--log-level", "warning"], sub_port))
        servers.append(_start([sys.executable, "-c", BASELINE, str(base_port)], base_port))
        report.note(
            f"{n_problems} problems per environment, {GROUP} consecutive requests per problem "
            "(a GRPO group); half the answers right; every induction answer a distinct program "
            "(a different syntax tree, so no two share a sandbox child)"
        )
        report.note(
            f"{concurrency} requests in flight, one item each, a new connection per request; "
            f"{n_subject} requests per subject round, {n_baseline} per baseline round; "
            f"cores: {len(os.sched_getaffinity(0))} shared by client, servers and sandbox"
        )
        only = os.environ.get("STEPSTONES_BENCH_ENVS")  # e.g. "deduction,induction"
        for env in [e for e in ENVIRONMENTS if not only or e in only.split(",")]:
            labels = [records.encode_json(p).decode() for p in problems[env]]
            sub = _Load(sub_port, *_bodies(env, labels, n_subject), concurrency, "subject")
            base = _Load(base_port, *_bodies(env, labels, n_baseline), concurrency, "baseline")
            times = interleave({"subject": sub.run, "baseline": base.run}, repeats=args.repeats)
            sub_rate = n_subject / median(times["subject"])
            base_rate = n_baseline / median(times["baseline"])
            report.metric(f"{env}_subject_rewards_per_s", sub_rate)
            report.metric(f"{env}_baseline_rewards_per_s", base_rate)
            for load in (sub, base):
                q = statistics.quantiles(load.latencies, n=100)
                report.metric(f"{env}_{load.name}_p50_latency_ms", q[49] * 1000)
                report.metric(f"{env}_{load.name}_p99_latency_ms", q[98] * 1000)
            target = 20.0 if env == "induction" else None
            report.ratio(f"{env}_vs_baseline", sub_rate, base_rate, target=target)
            if env == "deduction":
                report.ratio("deduction_vs_goal_1500_per_s", sub_rate, 1500.0, target=1.0)
    except Exception as exc:
        return report.finish(exc)
    finally:
        for proc in servers:
            _stop(proc)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
