"""Checks of the hostile corpus: each looks from outside for one forbidden effect.

A check takes the :class:`~hostile._world.Run` and the :class:`~hostile._world.World` and returns
a list of problems (empty: the effect did not happen).
"""

from __future__ import annotations

import os
import signal
import socket
import stat
from collections.abc import Callable

from hostile._world import (
    LINGER_GRACE_S,
    SENTINEL_MODE,
    SENTINEL_TEXT,
    Run,
    World,
    cmdline,
    proc_stat,
)

from stepstones.sandbox import Outcome, Script

# Slack over wall_time_s for the time the caller waits for a killed job.
WALL_SLACK_S = 2.0


def _texts(outcome: Outcome) -> list[str]:
    texts = [
        outcome.stdout,
        outcome.stderr,
        outcome.exception_message or "",
        outcome.detail,
    ]
    for call in outcome.calls:
        texts += [call.value or "", call.exception_message or ""]
    return texts


def check_status(run: Run, world: World) -> list[str]:
    o = run.outcome
    if o.status not in run.probe.expect:
        return [
            f"status {o.status!r} not in {sorted(run.probe.expect)} "
            f"(exit_code={o.exit_code}, signal={o.signal}, exception={o.exception_type}: "
            f"{o.exception_message!r}, detail={o.detail!r})"
        ]
    return []


def check_expected_output(run: Run, world: World) -> list[str]:
    """Controls declare what a healthy sandbox returns for them."""
    o, probe = run.outcome, run.probe
    problems = []
    if probe.stdout is not None and o.stdout != probe.stdout + "\n":
        problems.append(f"stdout {o.stdout!r}, expected {probe.stdout + chr(10)!r}")
    if probe.values is not None:
        got = tuple(c.value if c.ok else None for c in o.calls)
        if got != probe.values:
            problems.append(f"call values {got}, expected {probe.values}")
    return problems


def check_marker_absent(run: Run, world: World) -> list[str]:
    if any("ESCAPED" in t for t in _texts(run.outcome)):
        return ["the probe printed ESCAPED: its forbidden step succeeded"]
    return []


def check_nothing_leaked(run: Run, world: World) -> list[str]:
    found = []
    for what, text in world.forbidden_texts.items():
        if text and any(text in t for t in _texts(run.outcome)):
            found.append(f"{what} appeared in the job's output")
    return found


def check_sentinel_unchanged(run: Run, world: World) -> list[str]:
    try:
        st = world.sentinel.lstat()
        data = world.sentinel.read_bytes()
    except OSError as exc:
        return [f"the sentinel outside scratch is gone: {exc}"]
    problems = []
    if data != SENTINEL_TEXT:
        problems.append(f"the sentinel's content changed to {data[:80]!r}")
    if stat.S_IMODE(st.st_mode) != SENTINEL_MODE or not stat.S_ISREG(st.st_mode):
        problems.append(f"the sentinel's mode changed to {oct(st.st_mode)}")
    if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        problems.append(f"the sentinel's owner changed to {st.st_uid}:{st.st_gid}")
    return problems


def check_no_new_files(run: Run, world: World) -> list[str]:
    expected = {world.sentinel.name, world.fd_file.name, "listener.sock"}
    extra = sorted(p.name for p in world.root.iterdir() if p.name not in expected)
    problems = [f"new files outside scratch: {extra}"] if extra else []
    for target in (world.tmp_target, world.shm_target):
        if target.exists():
            problems.append(f"{target} was created")
    return problems


def check_fd_file_unchanged(run: Run, world: World) -> list[str]:
    data = world.fd_file.read_bytes()
    return [f"the inherited host fd was written: {data[:80]!r}"] if data else []


def _pending(sock: socket.socket, what: str) -> list[str]:
    try:
        if sock.type == socket.SOCK_DGRAM:
            data = sock.recv(65536)
            return [f"the host {what} received {data!r}"]
        conn, _ = sock.accept()
    except BlockingIOError:
        return []
    conn.close()
    return [f"the host {what} accepted a connection from the job"]


def check_tcp_no_connection(run: Run, world: World) -> list[str]:
    return _pending(world.tcp, "TCP listener on 127.0.0.1")


def check_udp_no_datagram(run: Run, world: World) -> list[str]:
    return _pending(world.udp, "UDP socket on 127.0.0.1")


def check_unix_no_connection(run: Run, world: World) -> list[str]:
    return _pending(world.unix, "unix socket") + _pending(world.abstract, "abstract unix socket")


def check_hostname_unchanged(run: Run, world: World) -> list[str]:
    now = socket.gethostname()
    return [f"the host's hostname changed to {now!r}"] if now != world.hostname else []


def check_victim_alive(run: Run, world: World) -> list[str]:
    st = proc_stat(world.victim.pid)
    if world.victim.poll() is not None or st is None or st[0] in "TtZX":
        return [f"the unrelated victim process was hit (returncode {world.victim.poll()})"]
    return []


def check_caller_not_signalled(run: Run, world: World) -> list[str]:
    return [f"the caller received signals {world.signals}"] if world.signals else []


def check_zygotes_alive(run: Run, world: World) -> list[str]:
    problems = []
    for pid in sorted(world.zygotes):
        st = proc_stat(pid)
        if st is None or st[0] in "ZXx":
            problems.append(f"zygote {pid} is dead")
        elif st[0] in "Tt":
            problems.append(f"zygote {pid} is stopped ({st[0]})")
    return problems


def check_untraced(run: Run, world: World) -> list[str]:
    return [f"pid {pid} was traced by {tracer}" for pid, tracer in run.tracers_seen.items()]


def check_no_lingering_processes(run: Run, world: World) -> list[str]:
    if run.lingering:
        cmds = {pid: cmdline(pid)[:60] for pid in sorted(run.lingering)}
        return [f"processes outlived the job by {LINGER_GRACE_S} s: {cmds}"]
    return []


def check_sandbox_still_works(run: Run, world: World) -> list[str]:
    # Run once per zygote so a wedged zygote shows up, whichever one ran the probe.
    outcomes = run.sandbox.run_batch([Script(source="print('alive')")] * 2)
    bad = [o for o in outcomes if o.status != "ok" or o.stdout != "alive\n"]
    return [f"the sandbox no longer runs a trivial job: {bad}"] if bad else []


def check_output_capped(run: Run, world: World) -> list[str]:
    o, cap = run.outcome, run.probe.limits.output_kib * 1024
    problems = []
    for name, text, truncated in (
        ("stdout", o.stdout, o.stdout_truncated),
        ("stderr", o.stderr, o.stderr_truncated),
    ):
        if len(text.encode()) > cap:
            problems.append(f"{name} holds {len(text.encode())} bytes, cap {cap}")
        if len(text) >= cap and not truncated:
            problems.append(f"{name} is at the cap but not flagged truncated")
    if not (o.stdout_truncated or o.stderr_truncated):
        problems.append("neither stream was flagged truncated")
    return problems


def check_rss_capped(run: Run, world: World) -> list[str]:
    cap_kib = run.probe.limits.memory_mib * 1024
    if run.outcome.max_rss_kib > cap_kib:
        return [f"max RSS {run.outcome.max_rss_kib} KiB exceeds the {cap_kib} KiB limit"]
    return []


def check_wall_capped(run: Run, world: World) -> list[str]:
    limit = run.probe.limits.wall_time_s
    problems = []
    if run.elapsed_s > limit + WALL_SLACK_S:
        problems.append(f"the caller waited {run.elapsed_s:.2f} s for a {limit} s job")
    if run.outcome.wall_time_s > limit + WALL_SLACK_S:
        problems.append(f"the outcome reports {run.outcome.wall_time_s:.2f} s of wall time")
    return problems


def check_sigsegv(run: Run, world: World) -> list[str]:
    o = run.outcome
    if o.status == "signal" and o.signal != signal.SIGSEGV:
        return [f"killed by signal {o.signal}, expected SIGSEGV"]
    return []


def check_no_forged_calls(run: Run, world: World) -> list[str]:
    o = run.outcome
    problems = []
    if len(o.calls) != len(run.probe.args):
        problems.append(f"{len(o.calls)} call results for {len(run.probe.args)} argument lists")
    forged = [c for c in o.calls if c.ok]
    if forged:
        problems.append(f"calls reported as passed although f never returned: {forged}")
    return problems


def check_call_budget_held(run: Run, world: World) -> list[str]:
    """The per-call CPU budget, not the job's whole CPU or wall limit, ended the job."""
    o = run.outcome
    if o.status == "timeout" and not o.detail.startswith("a call used"):
        return [f"the call ran past its budget until another limit ended it: {o.detail}"]
    return []


def check_first_call_raises_recursion_then_ok(run: Run, world: World) -> list[str]:
    calls = run.outcome.calls
    if len(calls) != 2:
        return [f"expected 2 call results, got {calls}"]
    first, second = calls
    problems = []
    if first.ok or first.exception_type != "RecursionError":
        problems.append(f"first call should raise RecursionError: {first}")
    if not (second.ran and second.ok and second.value == "3"):
        problems.append(f"second call should return 3: {second}")
    return problems


def check_later_calls_not_run(run: Run, world: World) -> list[str]:
    calls = run.outcome.calls
    if len(calls) != 2:
        return [f"expected 2 call results, got {calls}"]
    if calls[0].ok or calls[1].ran:
        return [f"after a timeout no call may pass and later calls must be not run: {calls}"]
    return []


Check = Callable[[Run, World], list[str]]

#: Checks a probe may name in its ``effect:`` header. Every check runs for every probe.
EFFECT_CHECKS: dict[str, Check] = {
    "caller_cmdline_absent": check_nothing_leaked,
    "caller_files_absent": check_nothing_leaked,
    "hostname_unchanged": check_hostname_unchanged,
    "caller_not_signalled": check_caller_not_signalled,
    "fd_file_unchanged": check_fd_file_unchanged,
    "marker_absent": check_marker_absent,
    "no_lingering_processes": check_no_lingering_processes,
    "no_new_files": check_no_new_files,
    "passwd_absent": check_nothing_leaked,
    "secret_absent": check_nothing_leaked,
    "sentinel_unchanged": check_sentinel_unchanged,
    "shadow_absent": check_nothing_leaked,
    "tcp_no_connection": check_tcp_no_connection,
    "udp_no_datagram": check_udp_no_datagram,
    "unix_no_connection": check_unix_no_connection,
    "untraced": check_untraced,
    "victim_alive": check_victim_alive,
    "zygotes_alive": check_zygotes_alive,
    # Specific to one kind of probe: run only when named.
    "first_call_raises_recursion_then_ok": check_first_call_raises_recursion_then_ok,
    "later_calls_not_run": check_later_calls_not_run,
    "no_forged_calls": check_no_forged_calls,
    "call_budget_held": check_call_budget_held,
    "output_capped": check_output_capped,
    "rss_capped": check_rss_capped,
    "sigsegv": check_sigsegv,
    "wall_capped": check_wall_capped,
}
ALWAYS: tuple[Check, ...] = (
    check_status,
    check_expected_output,
    check_marker_absent,
    check_nothing_leaked,
    check_sentinel_unchanged,
    check_no_new_files,
    check_fd_file_unchanged,
    check_tcp_no_connection,
    check_udp_no_datagram,
    check_unix_no_connection,
    check_victim_alive,
    check_hostname_unchanged,
    check_caller_not_signalled,
    check_zygotes_alive,
    check_untraced,
    check_no_lingering_processes,
    check_rss_capped,
    check_sandbox_still_works,
)


EFFECTS_ONLY: tuple[Check, ...] = tuple(
    check
    for check in ALWAYS
    if check not in (check_status, check_marker_absent, check_expected_output)
)
