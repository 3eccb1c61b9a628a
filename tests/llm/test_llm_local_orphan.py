"""The embedded model server dies with the process that started it, even on SIGKILL.

A parent started with ``orphan_guarded`` runs a module that sleeps forever and writes its pid;
the parent is then killed with SIGKILL (no cleanup can run) and the child must exit. A
grandchild cannot be waited for, so the test polls its state (``kill(pid, 0)``, then whether
it is a zombie nobody reaped) up to a generous deadline: a bound on a hang, not a timing claim.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from stepstones.llm._local import orphan_guarded

SLEEPER = """
import os, sys, time
from pathlib import Path
Path(sys.argv[1]).write_text(str(os.getpid()))
while True:
    time.sleep(60)
"""

PARENT = """
import subprocess, sys, time
from stepstones.llm._local import orphan_guarded
child = subprocess.Popen([*orphan_guarded("sleeper_mod"), sys.argv[1]])
while True:
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its state says whether it has exited.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait(predicate: object, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_the_guarded_module_runs_with_its_arguments(tmp_path: Path) -> None:
    (tmp_path / "echo_mod.py").write_text("import sys\nprint(repr(sys.argv[1:]))\n")
    out = subprocess.run(
        [*orphan_guarded("echo_mod"), "--model", "x y"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        timeout=60,
    )
    assert out.stdout.strip() == "['--model', 'x y']"


def test_a_server_dies_with_its_killed_parent(tmp_path: Path) -> None:
    (tmp_path / "sleeper_mod.py").write_text(textwrap.dedent(SLEEPER))
    pid_file = tmp_path / "child.pid"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], env=env)
    try:
        assert _wait(lambda: pid_file.exists() and pid_file.read_text(), 60), "child never ran"
        child = int(pid_file.read_text())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=60)
        assert _wait(lambda: not _alive(child), 60), "the server outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
