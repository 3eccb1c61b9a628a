"""Waiting for a ``stepstones serve`` subprocess to answer, shared by the tests that start one."""

from __future__ import annotations

import subprocess
import time

import httpx


def wait_healthy(proc: subprocess.Popen[bytes], url: str, deadline_s: float = 60.0) -> None:
    """Poll ``url/healthz`` until it answers 200; fail with the server's stderr if it exits,
    or when ``deadline_s`` passes (a bound on a hang, not a timing claim)."""
    deadline = time.monotonic() + deadline_s
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)
