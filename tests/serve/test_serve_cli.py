"""``stepstones serve`` as a real process: listens, authenticates from the environment, grades,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import anyio
import httpx
import msgspec
import pytest
from _serve_problems import ANSWERS

from _serve_process import wait_healthy
from stepstones import cli, records
from stepstones._cli._serve import ServeSettings
from stepstones._cli._serve import settings as serve_settings
from stepstones.distributed import RewardReplica
from stepstones.distributed._serve_cli import replica_settings
from stepstones.records import Env, Problem


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_serves_with_a_token_and_stops_on_sigterm(problems: dict[Env, Problem]) -> None:
    port = _free_port()
    env = os.environ | {"STEPSTONES_SERVE_TOKEN": "t0ken"}
    argv = [sys.executable, "-m", "stepstones.cli", "serve", "--port", str(port), "--workers", "1"]
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        _exercise(proc, port, problems)


def _exercise(proc: subprocess.Popen[bytes], port: int, problems: dict[Env, Problem]) -> None:
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(proc, url)
        label = records.encode_json(problems["deduction"]).decode()
        body = {"query": [ANSWERS["deduction"][0]], "prompts": [""], "labels": [label]}
        assert httpx.post(url + "/get_reward", json=body).status_code == 401
        ok = httpx.post(url + "/get_reward", json=body, headers={"Authorization": "Bearer t0ken"})
        assert ok.json()["rewards"] == [1.0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert "auth: bearer token" in err
        assert "t0ken" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- one CLI layer: the local server and the Ray replicas serve the same settings ----------

#: A value other than the default for every option of `stepstones serve`.
NON_DEFAULT: dict[str, list[str]] = {
    "--host": ["0.0.0.0"],
    "--port": ["5123"],
    "--token-env": ["MY_TOKEN"],
    "--workers": ["3"],
    "--max-concurrent-grades": ["7"],
    "--max-pending-requests": ["9"],
    "--grade-timeout-s": ["4.5"],
    "--batch-window-s": ["0.25"],
    "--max-batch": ["3"],
    "--max-body-kib": ["33"],
    "--max-items": ["44"],
    "--graceful-timeout-s": ["5.5"],
    "--header-timeout-s": ["2.5"],
    "--body-timeout-s": ["3.5"],
    "--no-run-code": [],
    "--allow-weaker-sandbox": [],
    "--log-level": ["warning"],
    "--ledger": ["runs/live"],
    "--ledger-window": ["5"],
    "--ray": ["local"],
    "--urls-file": ["urls.txt"],
    "--ray-cpus-per-replica": ["0.5"],
}
RAY_ONLY = {"--urls-file", "--ray-cpus-per-replica"}


def _settings(argv: list[str]) -> ServeSettings:
    return serve_settings(cli.parser("serve").parse_args(argv))


def test_every_serve_option_reaches_the_settings_both_paths_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    parser = cli.parser("serve")
    options = {a.option_strings[0] for a in parser._actions if a.option_strings} - {"-h"}
    assert options == set(NON_DEFAULT), "give every new option a value here"
    for option, value in NON_DEFAULT.items():
        extra = ["--ray", "local"] if option in RAY_ONLY else []
        assert _settings([*extra, option, *value]) != _settings(extra), f"{option} is dropped"
    # Everything at once: the Ray replicas serve the local server's config, host aside.
    argv = [a for option, value in NON_DEFAULT.items() for a in (option, *value)]
    s = _settings(argv)
    replica = replica_settings(s)
    local = msgspec.structs.asdict(s.server)
    ray = msgspec.structs.asdict(replica.server)
    assert {k: v for k, v in ray.items() if local[k] != v} == {}  # 0.0.0.0 stays as it is
    assert (replica.workers, replica.allow_weaker) == (s.workers, s.allow_weaker) == (3, True)
    assert (s.server.batch_window_s, s.server.max_batch, s.server.token) == (0.25, 3, "s3cret")
    loopback = replica_settings(_settings(["--host", "localhost", "--ray", "auto"]))
    assert loopback.server.host == "127.0.0.1"  # a loopback host means each node's address


def _grade_calls(metrics: str) -> float:
    return sum(
        float(m[1])
        for m in re.finditer(r"^stepstones_grade_calls_total\{[^}]*\} (\S+)$", metrics, re.M)
    )


def _calls_for_three_requests(argv: list[str], label: str) -> float:
    """Grading calls a Ray replica configured by ``argv`` makes for three concurrent
    one-answer requests about one problem. Run without Ray: a replica is a plain object that
    Ray only places on a node."""
    s = _settings(["--ray", "local", "--port", "0", "--workers", "1", *argv])
    replica = RewardReplica(replica_settings(s), "127.0.0.1")
    url = replica.start()
    right = ANSWERS["deduction"][0]
    body = {"query": [right], "prompts": [""], "labels": [label]}

    async def post_three() -> list[float]:
        rewards: list[float] = []
        async with httpx.AsyncClient(timeout=30) as client, anyio.create_task_group() as tg:
            for _ in range(3):

                async def one() -> None:
                    rewards.extend((await client.post(url, json=body)).json()["rewards"])

                tg.start_soon(one)
        return rewards

    try:
        assert anyio.run(post_three) == [1.0, 1.0, 1.0]
        metrics = httpx.get(url.replace("/get_reward", "/metrics"), timeout=30).text
    finally:
        replica.stop()
    return _grade_calls(metrics)


def test_a_ray_replica_batches_as_the_command_line_says(problems: dict[Env, Problem]) -> None:
    """`serve --ray` honours --batch-window-s and --max-batch (it used to drop both): with a
    1 s window the three requests are graded in one call, unless --max-batch 1 keeps them
    apart."""
    label = records.encode_json(problems["deduction"]).decode()
    assert _calls_for_three_requests(["--batch-window-s", "1"], label) == 1
    assert _calls_for_three_requests(["--batch-window-s", "1", "--max-batch", "1"], label) == 3


def test_busy_port_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"stepstones serve: port {port} on 127.0.0.1 is already in use by another process: "
        "stop it or pass another --port (0 picks a free one)\n"
    )


def test_the_default_port_is_not_vllms() -> None:
    assert _settings([]).server.port == 5000  # vLLM's default is 8000
