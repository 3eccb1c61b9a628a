"""Zygote death and replacement, and that long runs leave no zombies or fd growth."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from pathlib import Path

from stepstones.errors import SandboxError
from stepstones.sandbox import Sandbox, Script, close_shared_sandbox, shared_sandbox


def _all_pids() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def _zombie_children(pid: int, *, not_in: Collection[int] = ()) -> list[int]:
    """Unreaped children of ``pid``, leaving out the pids in ``not_in``."""
    zombies = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) in not_in:
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            zombies.append(int(proc.name))
    return zombies


def test_the_zombie_check_sees_an_unreaped_child() -> None:
    """The check below is not vacuous: a child that exited and was not waited for is found,
    and processes that existed before (another test's) are left out."""
    before = _all_pids()
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while proc.pid not in _zombie_children(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert _zombie_children(os.getpid(), not_in=before) == [proc.pid]
        assert _zombie_children(os.getpid(), not_in=before | {proc.pid}) == []
    finally:
        proc.wait()
    assert proc.pid not in _zombie_children(os.getpid())


def test_a_killed_zygote_fails_its_job_and_is_replaced() -> None:
    with Sandbox(workers=1) as sb:
        (old,) = sb.zygote_pids()
        timer = threading.Timer(0.5, os.kill, (old, signal.SIGKILL))
        timer.start()
        start = time.monotonic()
        out = sb.run_batch([Script(source="import time\ntime.sleep(20)")])[0]
        timer.join()
        assert out.status == "sandbox_failure"
        assert "died" in out.detail
        assert time.monotonic() - start < 10  # never a hang
        (new,) = sb.zygote_pids()
        assert new != old
        assert sb.run_batch([Script(source="print('served')")])[0].stdout == "served\n"


def test_an_idle_zygote_killed_from_outside_is_replaced_transparently() -> None:
    with Sandbox(workers=1) as sb:
        (old,) = sb.zygote_pids()
        os.kill(old, signal.SIGKILL)
        time.sleep(0.2)
        out = sb.run_batch([Script(source="print('ok')")])[0]
        assert (out.status, out.stdout) == ("ok", "ok\n")


def test_close_stops_every_zygote() -> None:
    # Only processes this sandbox may have started count: other tests of the session may own
    # children of this process too.
    before = _all_pids()
    sb = Sandbox(workers=2)
    pids = sb.zygote_pids()
    sb.close()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()  # neither running nor a zombie
    assert _zombie_children(os.getpid(), not_in=before) == []


def test_thousands_of_jobs_leave_no_zombies_or_fd_growth() -> None:
    before = _all_pids()
    with Sandbox(workers=2) as sb:
        jobs = [Script(source="print(1)")] * 200
        sb.run_batch(jobs)  # warm-up: threads, buffers
        fds_before = len(list(Path("/proc/self/fd").iterdir()))
        outs = []
        for _ in range(10):
            outs.extend(sb.run_batch(jobs))
        assert all(o.ok and o.stdout == "1\n" for o in outs)
        assert len(list(Path("/proc/self/fd").iterdir())) <= fds_before
        assert _zombie_children(os.getpid(), not_in=before) == []
        for zygote in sb.zygote_pids():
            assert _zombie_children(zygote) == []


_ORPHAN_SCRIPT = """
import os, sys, time
from stepstones.errors import SandboxError
from stepstones.sandbox import Sandbox, Script, close_shared_sandbox, shared_sandbox

sb = Sandbox(workers=2)
assert sb.run_batch([Script(source="print(1)")])[0].stdout == "1\\n"
pid = os.fork()
if pid == 0:
    # A fork of the caller: holds the zygotes' control sockets open, outlives the caller.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    time.sleep(60)
    os._exit(0)
print(pid, " ".join(map(str, sb.zygote_pids())), flush=True)
os._exit(0)  # the caller dies without closing its sandbox
"""


def test_zygotes_exit_when_the_caller_dies_even_if_a_fork_of_it_holds_their_sockets() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _ORPHAN_SCRIPT],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    fork, *zygotes = (int(p) for p in done.stdout.split())
    try:
        assert len(zygotes) == 2
        assert _alive(fork)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in zygotes):
            time.sleep(0.05)
        assert not any(_alive(p) for p in zygotes), "zygotes outlived their caller"
    finally:
        os.kill(fork, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_forked_copy_of_the_caller_gets_a_clear_error_and_cannot_stop_the_zygotes() -> None:
    with Sandbox(workers=1) as sb:
        shared_sandbox()  # the child must not inherit this one
        assert sb.run_batch([Script(source="print(1)")])[0].stdout == "1\n"
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the forked copy: refused with a sentence, and its close is a no-op
            code = 0
            try:
                sb.run_batch([Script(source="print(2)")])
                code = 3
            except SandboxError as exc:
                code = 0 if "another process" in str(exc) else 4
            sb.close()
            if code == 0:  # the process-wide sandbox is the child's own
                own = shared_sandbox()
                code = 0 if own.run_batch([Script(source="print(5)")])[0].stdout == "5\n" else 5
                close_shared_sandbox()
            os.write(write, bytes([code]))
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        assert os.read(read, 1) == b"\x00" and status == 0
        os.close(read)
        # The parent's zygotes still serve, its own shared sandbox too.
        assert sb.run_batch([Script(source="print(3)")])[0].stdout == "3\n"
        assert shared_sandbox().run_batch([Script(source="print(4)")])[0].stdout == "4\n"
        close_shared_sandbox()


def test_a_deep_shut_tree_a_job_leaves_is_gone_before_the_next_job() -> None:
    """The scratch dir is emptied between jobs however deep the tree a job left (1,500 levels,
    more than a path can name) and whatever modes it set."""
    plant = (
        "import os\n"
        "top = os.open('.', os.O_RDONLY)\n"
        "for i in range(1500):\n"
        "    os.mkdir('d')\n"
        "    os.chdir('d')\n"
        "open('deep-leftover', 'w').close()\n"
        "os.fchdir(top)\n"
        "os.mkdir('shut')\n"
        "open('shut/inside', 'w').close()\n"
        "os.chmod('shut', 0)\n"
        "print(sorted(os.listdir('.')))\n"
    )
    look = "import os\nprint(sorted(os.listdir('.')))\n"
    with Sandbox(workers=1) as sb:
        (planted,) = sb.run_batch([Script(source=plant)])
        assert planted.status == "ok" and planted.stdout == "['d', 'shut']\n", planted
        (seen,) = sb.run_batch([Script(source=look)])
        assert seen.status == "ok" and seen.stdout == "[]\n", seen
