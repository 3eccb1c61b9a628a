"""``stepstones serve`` as a real process: listens, authenticates from the environment, grades,
and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from _serve_problems import ANSWERS

from stepstones import records
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
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
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
