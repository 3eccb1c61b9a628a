"""The public API of stepstones.sandbox: exports, validation, fail-closed start, async calls,
cancellation, determinism checks, the isolation-off mode, and `stepstones doctor`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

import stepstones.sandbox as sandbox_pkg
from stepstones.cli import main as cli_main
from stepstones.errors import ConfigError, IsolationUnavailableError, SandboxClosedError
from stepstones.sandbox import Call, Limits, Sandbox, Script, shared_sandbox
from stepstones.sandbox._outcome import job_tuple


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(workers=2) as sb:
        yield sb


def test_exported_names_are_exactly_the_public_api() -> None:
    expected = [
        "Call",
        "CallResult",
        "Capabilities",
        "Job",
        "Limits",
        "Outcome",
        "Sandbox",
        "Script",
        "Status",
        "close_shared_sandbox",
        "shared_sandbox",
    ]
    assert sandbox_pkg.__all__ == expected
    for name in expected:
        assert getattr(sandbox_pkg, name) is not None


def test_full_isolation_reports_every_required_layer(sandbox: Sandbox) -> None:
    caps = sandbox.capabilities
    assert caps.isolation == "full" and caps.missing == ()
    for layer in ("network_namespace", "landlock", "no_new_privs", "seccomp"):
        assert caps.has(layer)
    if caps.running_as_root:
        assert caps.has("non_root_uid")


def test_bad_arguments_are_config_errors(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError, match="memory_mib"):
        Sandbox(workers=1, limits=Limits(memory_mib=0))
    with pytest.raises(ConfigError, match="workers"):
        Sandbox(workers=0)
    with pytest.raises(ConfigError, match="isolation"):
        Sandbox(workers=1, isolation="off")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown isolation layers"):
        Sandbox(workers=1, disable_layers=("firewall",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="wall_time_s"):
        sandbox.run_batch([Script(source="pass", limits=Limits(wall_time_s=float("nan")))])
    with pytest.raises(ConfigError, match="identifier"):
        sandbox.run_batch([Call(source="", function="f()", args=())])
    with pytest.raises(ConfigError, match="Script or a Call"):
        sandbox.run_batch(["print(1)"])  # type: ignore[list-item]


def test_a_missing_required_layer_fails_closed() -> None:
    with pytest.raises(IsolationUnavailableError, match="seccomp"):
        Sandbox(workers=1, disable_layers=("seccomp",))


def test_allow_weaker_starts_without_the_layer_and_says_so() -> None:
    with Sandbox(workers=1, disable_layers=("seccomp",), allow_weaker=True) as sb:
        assert sb.capabilities.missing == ("seccomp",)
        assert not sb.capabilities.has("seccomp")
        # Without seccomp, creating a socket is no longer refused (the empty network
        # namespace still keeps it from reaching anything).
        out = sb.run_batch([Script(source="import socket\nsocket.socket()\nprint('made')")])[0]
        assert out.status == "ok" and out.stdout == "made\n"


def test_isolation_none_is_the_same_engine_with_every_layer_off() -> None:
    with Sandbox(workers=1, isolation="none") as sb:
        assert sb.capabilities.active == () and sb.capabilities.missing == ()
        out = sb.run_batch([Script(source="import os\nprint(os.getuid())")])[0]
        assert out.status == "ok"
        assert out.stdout == f"{os.getuid()}\n"


def test_closed_sandbox_refuses_work() -> None:
    sb = Sandbox(workers=1)
    sb.close()
    sb.close()  # idempotent
    with pytest.raises(SandboxClosedError):
        sb.run_batch([Script(source="pass")])


def test_batch_keeps_job_order(sandbox: Sandbox) -> None:
    jobs = [Script(source=f"print({i})") for i in range(40)]
    outs = sandbox.run_batch(jobs)
    assert [o.stdout for o in outs] == [f"{i}\n" for i in range(40)]


@pytest.mark.anyio
async def test_async_run_and_run_many(sandbox: Sandbox) -> None:
    out = await sandbox.run(Script(source="print(6 * 7)"))
    assert (out.status, out.stdout) == ("ok", "42\n")
    outs = await sandbox.run_many([Script(source=f"print({i})") for i in range(5)])
    assert [o.stdout for o in outs] == [f"{i}\n" for i in range(5)]
    async with anyio.create_task_group() as tg:
        results: list[str] = []

        async def one(i: int) -> None:
            results.append((await sandbox.run(Script(source=f"print({i})"))).stdout)

        for i in range(6):
            tg.start_soon(one, i)
    assert sorted(results) == sorted(f"{i}\n" for i in range(6))


def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(t) for t in text)
    return found


@pytest.mark.anyio
async def test_cancelling_an_async_run_kills_the_child() -> None:
    with Sandbox(workers=1) as sb:
        zygote = sb.zygote_pids()[0]
        start = time.monotonic()
        with anyio.move_on_after(0.5):
            await sb.run(Script(source="import time\ntime.sleep(30)"))
        assert time.monotonic() - start < 5
        for _ in range(100):
            if not _children_of(zygote):
                break
            await anyio.sleep(0.02)
        assert _children_of(zygote) == []
        # The zygote is still the same one and still serves jobs.
        out = await sb.run(Script(source="print('next')"))
        assert out.stdout == "next\n" and sb.zygote_pids() == [zygote]


async def _until(condition: Callable[[], object]) -> None:
    """Waits (polling, bounded) until ``condition()`` holds: an observed event, not a delay."""
    for _ in range(1000):
        if condition():
            return
        await anyio.sleep(0.01)
    pytest.fail("the awaited condition never held")


@pytest.mark.anyio
async def test_a_cancelled_job_that_waits_in_the_queue_never_runs() -> None:
    with Sandbox(workers=1) as sb:
        zygote = sb.zygote_pids()[0]
        sleeper, queued = anyio.CancelScope(), anyio.CancelScope()

        async def run_in(scope: anyio.CancelScope, source: str) -> None:
            with scope:
                await sb.run(Script(source=source))

        async with anyio.create_task_group() as tg:
            tg.start_soon(run_in, sleeper, "import time\ntime.sleep(30)")
            await _until(lambda: _children_of(zygote))  # the sleeper holds the only zygote
            tg.start_soon(run_in, queued, "import time\ntime.sleep(30)")
            await _until(lambda: len(sb._collector._waiters) == 2)  # queued behind it
            queued.cancel()
            await _until(lambda: len(sb._collector._waiters) == 1)
            sleeper.cancel()
        start = time.monotonic()
        out = await sb.run(Script(source="print('third')"))
        # The third job ran next: the cancelled one was dropped unrun (it would sleep 30 s).
        assert out.stdout == "third\n"
        assert time.monotonic() - start < 20


@pytest.mark.anyio
async def test_closing_the_sandbox_answers_every_waiting_job() -> None:
    sb = Sandbox(workers=1)
    outcomes: list[str] = []

    async def one() -> None:
        outcomes.append((await sb.run(Script(source="import time\ntime.sleep(30)"))).status)

    start = time.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(3):  # one running, two queued
            tg.start_soon(one)
        await _until(lambda: len(sb._collector._waiters) == 3)  # one running, two queued
        await sb.aclose()
    assert outcomes == ["sandbox_failure"] * 3
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
@pytest.mark.anyio
async def test_many_concurrent_runs_all_come_back_under_both_backends() -> None:
    with Sandbox(workers=2) as sb:
        got: dict[int, str] = {}

        async def one(i: int) -> None:
            got[i] = (await sb.run(Script(source=f"print({i})"))).stdout

        async with anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(one, i)
    assert got == {i: f"{i}\n" for i in range(60)}


@pytest.mark.anyio
async def test_determinism_check_flags_hash_seed_dependent_output(sandbox: Sandbox) -> None:
    same, a, b = await sandbox.check_determinism(Script(source="print(list(set('abcdefgh')))"))
    assert not same and a.stdout != b.stdout
    same, a, b = await sandbox.check_determinism(Script(source="print(sorted(set('abcdefgh')))"))
    assert same and a.ok and a.stdout == b.stdout
    call = Call(
        source="def f(n):\n    return [str(i) for i in {str(i) for i in range(n)}]",
        function="f",
        args=("20",),
    )
    same, _, _ = await sandbox.check_determinism(call)
    assert not same


@pytest.mark.anyio
async def test_determinism_check_with_one_worker_uses_a_second_zygote() -> None:
    with Sandbox(workers=1) as sb:
        same, _, _ = await sb.check_determinism(Script(source="print(list(set('abcdefgh')))"))
        assert not same


def test_shared_sandbox_is_one_lazily_started_instance() -> None:
    first = shared_sandbox()
    assert shared_sandbox() is first
    assert first.run_batch([Script(source="print(1)")])[0].stdout == "1\n"


def test_doctor_prints_the_capability_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "[on ] seccomp" in text and "landlock" in text and "test job: ok" in text


_NO_CAPS_SCRIPT = """
from stepstones.errors import IsolationUnavailableError
from stepstones.sandbox import Sandbox, Script
try:
    Sandbox(workers=1)
except IsolationUnavailableError as exc:
    print("REFUSED", exc)
with Sandbox(workers=1, allow_weaker=True) as sb:
    print("MISSING", ",".join(sb.capabilities.missing))
    out = sb.run_batch([Script(source="print(6 * 7)")])[0]
    print("JOB", out.status, out.stdout.strip())
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv"
)
def test_root_without_capabilities_fails_closed_and_names_the_fix() -> None:
    """Root with an empty capability bounding set, as in a default container."""
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-c",
         _NO_CAPS_SCRIPT],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert "non_root_uid" in lines["REFUSED"]
    assert "allow_weaker=True" in lines["REFUSED"] and "stepstones doctor" in lines["REFUSED"]
    assert "non_root_uid" in lines["MISSING"]
    assert lines["JOB"] == "ok 42"


def test_engine_errors_surface_as_the_stepstones_tree() -> None:
    """One translator at the FFI edge: the engine's own methods raise stepstones.errors
    classes, never a bare OSError (here: used after close, and a job the engine refuses)."""
    sb = Sandbox(workers=1)
    pool = sb._pool
    job = job_tuple(Script(source="print(1)"), sb.limits)
    assert pool.run_batch([job])[0][13]  # the channel carried frames: the pool works
    sb.close()
    for call in (
        lambda: pool.run_batch([job]),
        lambda: pool.run_twins(job),
        lambda: pool.submit(1, job),
    ):
        with pytest.raises(SandboxClosedError, match="closed"):
            call()
    with pytest.raises(ConfigError, match="job kind"):
        pool.run_batch([(2, *job[1:])])


@pytest.mark.anyio
async def test_async_open_and_close_leave_the_event_loop_free() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.lowlevel.checkpoint()
        before = ticks
        sb = await Sandbox.open(workers=1)
        started_while_ticking = ticks - before
        async with sb:
            assert (await sb.run(Script(source="print(1)"))).stdout == "1\n"
        tg.cancel_scope.cancel()
    # The loop kept running other tasks while the zygotes started in a worker thread.
    assert started_while_ticking >= 2
    with pytest.raises(SandboxClosedError):
        await sb.run(Script(source="print(1)"))
