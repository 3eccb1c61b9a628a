"""Reward-server replicas, one per node of the local two-node Ray cluster, answering
OpenRLHF 0.11.2's own reward client.

The client is ``SingleTurnAgentExecutor`` from the OpenRLHF wheel (loaded the way
tests/serve/test_serve_openrlhf_client.py does, whose helpers are reused here), given the URL
list exactly as ``train_ppo_ray.py`` builds it: ``args.reward.remote_url.split(",")``. It
cycles over the URLs, so both replicas must answer, each grading in the real sandbox of its
actor.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stepstones import records
from stepstones.distributed import ReplicaSettings, RewardReplicas
from stepstones.errors import ConfigError
from stepstones.records import ENVIRONMENTS, Env, Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import Config

# The serve tests' helpers: the trainer wheels' cache and the validated example problems.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from _serve_problems import ANSWERS, validated

from _trainer_wheels import OPENRLHF, read_source

pytest.importorskip("aiohttp")
pytestmark = pytest.mark.timeout(240)

PROMPT = "<|im_start|>user\nsolve it<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def openrlhf_agent() -> Iterator[types.ModuleType]:
    """``openrlhf.utils.agent`` from the 0.11.2 wheel under its real name; the ``openrlhf``
    packages are empty stand-ins (their ``__init__`` imports torch, which the client does not
    use)."""
    names = ("openrlhf", "openrlhf.utils", "openrlhf.utils.logging_utils", "openrlhf.utils.agent")
    saved = {k: sys.modules.get(k) for k in names}
    try:
        for name in names[:2]:
            stand_in = types.ModuleType(name)
            stand_in.__path__ = []
            sys.modules[name] = stand_in
        for name, member in zip(
            names[2:], ("openrlhf/utils/logging_utils.py", "openrlhf/utils/agent.py"), strict=True
        ):
            module = types.ModuleType(name)
            module.__file__ = member
            sys.modules[name] = module
            exec(compile(read_source(OPENRLHF, member), member, "exec"), module.__dict__)
        yield sys.modules["openrlhf.utils.agent"]
    finally:
        for name, mod in saved.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


@pytest.fixture(scope="module")
def problems() -> dict[Env, Problem]:
    with Sandbox(workers=1) as sandbox:
        return anyio.run(validated, sandbox)


def cases(problems: dict[Env, Problem]) -> list[tuple[str, str, str, float]]:
    out = []
    for env in ENVIRONMENTS:
        label = records.encode_json(problems[env]).decode()
        right, wrong = ANSWERS[env]
        for completion, expected in ((right, 1.0), (wrong, 0.0)):
            out.append((PROMPT + completion + "<|im_end|>", PROMPT, label, expected))
    return out


def served(url: str) -> int:
    metrics = httpx.get(url.replace("/get_reward", "/metrics"), timeout=10).text
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "stepstones_requests_total" and sample.labels == {
                "route": "/get_reward",
                "code": "200",
            }:
                return int(sample.value)
    return 0


def test_one_replica_per_node_answers_openrlhf(
    ray_cluster: Any,
    openrlhf_agent: types.ModuleType,
    problems: dict[Env, Problem],
    tmp_path: Path,
) -> None:
    settings = ReplicaSettings(server=Config(port=0), workers=1)
    todo = cases(problems) * 2  # 16 single-item requests, as rollouts send them
    got: dict[int, Any] = {}
    with RewardReplicas(settings, cpus_per_replica=0) as replicas:
        urls = replicas.remote_url.split(",")  # what OpenRLHF's train_ppo_ray.py does
        assert len(urls) == 2 and len(set(urls)) == 2
        assert all(re.fullmatch(r"http://[\d.]+:\d+/get_reward", u) for u in urls), urls
        written = replicas.write(tmp_path / "reward_urls.txt")
        assert written.read_text() == replicas.remote_url + "\n"
        executor = openrlhf_agent.SingleTurnAgentExecutor(remote_rm_url=urls)

        async def send_all() -> None:
            async def one(i: int, query: str, prompt: str, label: str) -> None:
                got[i] = await executor._fetch_rewards_via_http([query], [prompt], [label])

            async with anyio.create_task_group() as tg:
                for i, (query, prompt, label, _) in enumerate(todo):
                    tg.start_soon(one, i, query, prompt, label)

        anyio.run(send_all)
        per_replica = [served(u) for u in urls]
    for i, (_, _, _, expected) in enumerate(todo):
        (info,) = got[i]
        assert info["rewards"] == [expected], (i, info)
        assert info["extra_logs"]["pass"] == [expected]
    assert per_replica == [8, 8]  # round-robin: both nodes graded half
    for url in urls:  # stopped with the block
        with pytest.raises(httpx.TransportError):
            httpx.get(url.replace("/get_reward", "/healthz"), timeout=5)


def test_replica_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="workers must be >= 1, got 0"):
        ReplicaSettings(workers=0)
    with pytest.raises(ConfigError, match="cpus_per_replica must be >= 0"):
        RewardReplicas(cpus_per_replica=-1)


def test_serve_on_ray_prints_and_writes_the_url_list_then_stops_on_sigterm(
    ray_cluster: Any, problems: dict[Env, Problem], tmp_path: Path
) -> None:
    """``stepstones serve --ray ADDRESS`` as a process: the URL list on stdout and in
    --urls-file, requests answered on every node, graceful SIGTERM."""
    urls_file = tmp_path / "urls.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONES_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepstones.cli", "serve", "--ray", ray_cluster.address,
         "--port", "0", "--workers", "1", "--ray-cpus-per-replica", "0",
         "--urls-file", str(urls_file), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not urls_file.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no URL file after 90 s"
            time.sleep(0.2)
        urls = urls_file.read_text().strip().split(",")
        assert len(urls) == 2
        label = records.encode_json(problems["deduction"]).decode()
        right, wrong = ANSWERS["deduction"]
        for url in urls:
            body = {"query": [PROMPT + right, PROMPT + wrong], "prompts": [PROMPT] * 2,
                    "labels": [label] * 2}  # fmt: skip
            reply = httpx.post(url, json=body, timeout=30).json()
            assert reply["rewards"] == [1.0, 0.0]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # never leave it running (or unreaped) behind us
            proc.kill()
            proc.communicate()
            raise
    assert proc.returncode == 0, err
    assert out.strip().split(",") == urls
    assert "without a token" in err and "stopping the replicas" in err
