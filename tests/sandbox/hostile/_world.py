"""The world outside the sandbox that probes reach for, and running one probe against it.

The test process owns everything here: a sentinel file outside the scratch dir, loopback TCP/UDP
and unix listeners, an unrelated ``sleep`` victim, a SIGUSR1 handler, texts that must never leak.
:func:`run_probe` runs one probe and notes what only the outside can see (tracers seen while it
ran, processes left behind).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostile._probes import Probe

from stepstones.sandbox import Call, Outcome, Sandbox, Script

SECRET_NAME = "STEPSTONES_HOSTILE_SECRET"
CALLER_FILE = Path(__file__).resolve().parents[1] / "test_hostile_corpus.py"
REPO_FILE = Path(__file__).resolve().parents[3] / "pyproject.toml"
#: A line of the caller's own source that a probe reading it would print.
CALLER_SOURCE_LINE = "The hostile corpus: one program per escape attempt, each checked from outside"
SENTINEL_TEXT = b"sentinel: must never change\n"
SENTINEL_MODE = 0o640
# How long a process started by a job may take to disappear after the job's Outcome is back.
LINGER_GRACE_S = 1.0


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, ppid) of a live process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def _all_pids() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        st = proc_stat(pid)
        if st is not None:
            children.setdefault(st[1], []).append(pid)
    out: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _tracer_pid(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class World:
    """Everything a probe might reach for, owned by the test process."""

    root: Path
    sentinel: Path
    tmp_target: Path
    shm_target: Path
    hostname: str
    fd_file: Path
    fd: int
    tcp: socket.socket
    udp: socket.socket
    unix: socket.socket
    abstract: socket.socket
    abstract_name: str
    victim: subprocess.Popen[bytes]
    # The host's secrets stay out of the repr (a failing test prints its world).
    secret: str = field(repr=False)
    signals: list[int] = field(default_factory=list)
    zygotes: set[int] = field(default_factory=set)
    sandboxes: list[Sandbox] = field(default_factory=list)
    zygote_cmdlines: set[bytes] = field(default_factory=set, repr=False)
    forbidden_texts: dict[str, str] = field(default_factory=dict, repr=False)

    def redact(self, text: str) -> str:
        """``text`` with every secret (forbidden text) replaced by its name, for messages."""
        for what, secret in sorted(self.forbidden_texts.items(), key=lambda kv: -len(kv[1])):
            if secret:
                text = text.replace(secret, f"<{what}>")
        return text.replace(self.secret, "<the caller's secret>") if self.secret else text

    def params(self) -> dict[str, Any]:
        return {
            "sentinel": str(self.sentinel),
            "sentinel_dir": str(self.root),
            "tmp_target": str(self.tmp_target),
            "shm_target": str(self.shm_target),
            "caller_file": str(CALLER_FILE),
            "repo_file": str(REPO_FILE),
            "tcp_port": self.tcp.getsockname()[1],
            "udp_port": self.udp.getsockname()[1],
            "unix_path": str(self.root / "listener.sock"),
            "abstract_name": self.abstract_name,
            "caller_pid": os.getpid(),
            "victim_pid": self.victim.pid,
            "zygote_pids": sorted(self.zygotes),
            "secret_name": SECRET_NAME,
        }

    def reset(self) -> None:
        """Put the sentinel back exactly as the checks expect it (a probe may have won)."""
        for extra in self.root.iterdir():
            if extra not in (self.sentinel, self.fd_file, self.root / "listener.sock"):
                if extra.is_dir() and not extra.is_symlink():
                    extra.rmdir()
                else:
                    extra.unlink()
        for target in (self.tmp_target, self.shm_target):
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        self.sentinel.write_bytes(SENTINEL_TEXT)
        self.sentinel.chmod(SENTINEL_MODE)
        os.chown(self.sentinel, os.getuid(), os.getgid())
        self.signals.clear()
        if self.victim.poll() is not None:  # a probe killed it: the next probe gets a new one
            self.victim = subprocess.Popen(["sleep", "600"])
        # A probe may have killed a zygote and the engine replaced it: look again.
        self.zygotes = set()
        for sb in self.sandboxes:
            for pid in sb.zygote_pids():
                self.zygotes.add(pid)
                # ...and the process between it and us that set up its namespaces, if any.
                st = proc_stat(pid)
                if st is not None and st[1] != os.getpid():
                    self.zygotes.add(st[1])


@contextlib.contextmanager
def open_world(root: Path) -> Iterator[World]:
    """Set up every target in ``root`` (a fresh directory outside any sandbox) and tear down."""
    token = secrets.token_hex(8)
    sentinel = root / "sentinel.txt"
    fd_file = root / "inherited-fd.txt"
    fd_file.write_bytes(b"")
    # Left open and inheritable on purpose, before the sandbox starts: zygotes must not keep it.
    fd = os.open(fd_file, os.O_WRONLY | os.O_APPEND)
    os.set_inheritable(fd, True)
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(root / "listener.sock"))
    unix.listen()
    abstract_name = f"stepstones-hostile-{token}"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0" + abstract_name)
    abstract.listen()
    for sock in (tcp, udp, unix, abstract):
        sock.setblocking(False)
    victim = subprocess.Popen(["sleep", "600"])
    received: list[int] = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, _frame: received.append(signum))
    w = World(
        root=root,
        sentinel=sentinel,
        tmp_target=Path(f"/tmp/stepstones-hostile-{token}"),
        shm_target=Path(f"/dev/shm/stepstones-hostile-{token}"),
        hostname=socket.gethostname(),
        fd_file=fd_file,
        fd=fd,
        tcp=tcp,
        udp=udp,
        unix=unix,
        abstract=abstract,
        abstract_name=abstract_name,
        victim=victim,
        secret=f"hostile-secret-{token}",
        signals=received,
    )
    w.reset()
    try:
        yield w
    finally:
        signal.signal(signal.SIGUSR1, previous)
        w.victim.kill()  # a probe that won may have replaced the first one
        w.victim.wait()
        for sock in (tcp, udp, unix, abstract):
            sock.close()
        os.close(fd)
        for target in (w.tmp_target, w.shm_target):
            with contextlib.suppress(FileNotFoundError):
                target.unlink()


def forbidden_texts(world: World) -> dict[str, str]:
    """Texts that must never appear in anything a job returns (read once, from outside)."""
    # As a read of /proc/<caller>/cmdline would print it: arguments NUL-separated.
    caller_cmdline = cmdline(os.getpid()).rstrip(b"\0").decode(errors="replace")
    # /proc/<caller>/environ shows the block the caller was exec'd with (not later setenv).
    caller_environ = Path("/proc/self/environ").read_bytes().rstrip(b"\0")
    return {
        "the caller's secret environment value": world.secret,
        "the caller's command line": caller_cmdline,
        "the caller's environment block": caller_environ.decode(errors="replace"),
        "the root entry of /etc/passwd": _passwd_root_line(),
        "a line of this test's own source": CALLER_SOURCE_LINE,
        "the caller's pyproject.toml": REPO_FILE.read_text().splitlines()[1],
        **_shadow_lines(),
    }


def _passwd_root_line() -> str:
    for line in Path("/etc/passwd").read_text().splitlines():
        if line.startswith("root:"):
            return line
    return "root:x:0:0:"


def _shadow_lines() -> dict[str, str]:
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return {}
    return {f"/etc/shadow line {i}": line for i, line in enumerate(lines) if len(line) > 8}


@dataclass
class Run:
    sandbox: Sandbox
    probe: Probe
    outcome: Outcome
    elapsed_s: float
    tracers_seen: dict[int, int]
    lingering: set[int]


def _job(probe: Probe, world: World) -> Script | Call:
    source = f"P = {world.params()!r}\n{probe.source}"
    if probe.function is None:
        return Script(source=source, limits=probe.limits)
    return Call(source=source, function=probe.function, args=probe.args, limits=probe.limits)


def _namespace(pid: int, kind: str) -> str:
    try:
        return str(Path(f"/proc/{pid}/ns/{kind}").readlink())
    except OSError:
        return ""


def _suspects(world: World, before: set[int]) -> set[int]:
    """Processes the job may have left behind: new descendants of the caller (other than the
    victim and the zygotes), new orphans (ppid 1) running the zygote's command line (a fork
    keeps it), and new processes inside a zygote's own PID or network namespace.

    Only processes that did not exist before the job (``before``) count: whatever else the
    test session runs as children of pytest (another test's server or sandbox) is not the
    job's doing, and killing it here would hurt that test, not the job."""
    me = os.getpid()
    mine = descendants(me) - before - world.zygotes - {world.victim.pid}
    own_ns = {kind: _namespace(me, kind) for kind in ("pid", "net")}
    zygote_ns = {
        (kind, ns)
        for pid in world.zygotes
        for kind in ("pid", "net")
        if (ns := _namespace(pid, kind)) and ns != own_ns[kind]
    }
    orphans = set()
    for pid in _all_pids() - before - world.zygotes:
        st = proc_stat(pid)
        if st is None:
            continue
        forked_orphan = st[1] == 1 and cmdline(pid) in world.zygote_cmdlines
        in_zygote_ns = any((kind, _namespace(pid, kind)) in zygote_ns for kind in ("pid", "net"))
        if forked_orphan or in_zygote_ns:
            orphans.add(pid)
    return {p for p in mine | orphans if (st := proc_stat(p)) is not None and st[0] != "Z"}


def run_probe(sb: Sandbox, world: World, probe: Probe) -> Run:
    world.reset()
    before = _all_pids()
    tracers: dict[int, int] = {}
    done = threading.Event()

    def watch() -> None:
        # A tracer only exists while the job runs, so look while it runs.
        while not done.is_set():
            for pid in (*world.zygotes, os.getpid(), world.victim.pid):
                if tracer := _tracer_pid(pid):
                    tracers[pid] = tracer
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = time.monotonic()
    try:
        (outcome,) = sb.run_batch([_job(probe, world)])
    finally:
        elapsed = time.monotonic() - start
        done.set()
        watcher.join()
    deadline = time.monotonic() + LINGER_GRACE_S
    while (lingering := _suspects(world, before)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in lingering:  # escaped processes: stop them before anything else runs
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return Run(sb, probe, outcome, elapsed, tracers, lingering)
