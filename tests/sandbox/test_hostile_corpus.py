"""The hostile corpus: one program per escape attempt, each checked from outside the sandbox.

Every file in ``tests/sandbox/hostile/`` is a small program that tries one forbidden thing. Its
comment header declares what must happen::

    # probe: what it tries
    # expect: the allowed Outcome statuses (comma-separated; never ``sandbox_failure``)
    # effect: the outside effects it is about (names in hostile/_checks.py; all general ones run)
    # call: f                  (optional: run as a Call job of this function ...)
    # args: ["1", "2"]         (... on these literal argument lists, as JSON)
    # limits: memory_mib=128   (optional Limits fields)
    # stdout: text             (optional, for controls: the exact stdout, without the newline)
    # values: ["4", null]      (optional, for call controls: each call's value, null if it raised)
    # arch: x86_64 aarch64     (optional: it makes raw syscalls by number; skipped elsewhere)

The test prepends one line ``P = {...}`` with the targets (sentinel paths, ports, pids, ...), runs
the program in the real sandbox with every isolation layer on, and then checks *from outside* that
the forbidden effect did not happen: the sentinel file outside the scratch dir is byte-for-byte and
mode-for-mode unchanged and nothing new appeared next to it or in /tmp; the loopback TCP, UDP, unix
and abstract-unix listeners the test opened got nothing; an unrelated ``sleep`` process and every
zygote are alive, untraced and not stopped; the caller got no signal; no process the job started
outlives it; the caller's secret environment value, its command line and the host's /etc/shadow and
/etc/passwd never appear in anything the job returned; and the sandbox still runs a trivial job.
A probe prints ``ESCAPED`` only if its forbidden step succeeded, so that word must never appear.

Helpers live next to the probes (pytest puts this folder on ``sys.path``): ``hostile/_probes.py``
(headers), ``hostile/_world.py`` (the targets, running one probe) and ``hostile/_checks.py``.
"""

from __future__ import annotations

import os
import platform
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile._checks import (
    ALWAYS,
    EFFECT_CHECKS,
    EFFECTS_ONLY,
    check_no_lingering_processes,
    check_sandbox_still_works,
)
from hostile._probes import HOSTILE_DIR, PROBE_PATHS, Probe, load_probe
from hostile._world import (
    SECRET_NAME,
    World,
    cmdline,
    descendants,
    forbidden_texts,
    open_world,
    run_probe,
)

from stepstones.sandbox import Sandbox, Script


def read_probe(path: Path) -> Probe:
    probe = load_probe(path, EFFECT_CHECKS.keys())
    if probe.arches and platform.machine() not in probe.arches:
        pytest.skip(f"{probe.name} knows syscall numbers only for {', '.join(probe.arches)}")
    return probe


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory.mktemp("hostile-world")) as w:
        yield w


@pytest.fixture(scope="module")
def sandbox(world: World) -> Iterator[Sandbox]:
    """The real sandbox, full isolation, started while the caller holds a secret in its env."""
    old = os.environ.get(SECRET_NAME)
    os.environ[SECRET_NAME] = world.secret
    before = descendants(os.getpid())
    try:
        sb = Sandbox(workers=2)
    finally:
        if old is None:
            del os.environ[SECRET_NAME]
        else:
            os.environ[SECRET_NAME] = old
    with sb:
        warm = sb.run_batch([Script(source="print('warm')")] * 4)
        assert [o.status for o in warm] == ["ok"] * 4, warm
        world.sandboxes.append(sb)
        world.reset()
        assert world.zygotes, "found no zygote processes"
        assert world.zygotes <= descendants(os.getpid()) - before, "zygotes are not our children"
        world.zygote_cmdlines = {cmdline(pid) for pid in world.zygotes} - {b""}
        world.forbidden_texts = forbidden_texts(world)
        yield sb


# -- tests ------------------------------------------------------------------------------------


def test_corpus_covers_the_issue() -> None:
    """The escape attempts the issue lists each have a probe (renaming one must not drop it)."""
    required = {
        "fork_bomb",
        "threads",
        "subprocess_run",
        "os_system",
        "os_execv",
        "tcp_loopback",
        "udp_loopback",
        "unix_socket_path",
        "write_outside",
        "unlink_outside",
        "rename_outside",
        "read_etc_shadow",
        "read_etc_passwd",
        "read_proc1_environ",
        "read_parent_environ",
        "read_caller_proc",
        "read_environ",
        "kill_zygote",
        "ptrace_attach",
        "setitimer_alarm",
        "raise_rlimits",
        "setsid_grandchild",
        "call_os_exit_in_f",
        "call_sys_exit_in_f",
        "stdout_flood",
        "memory_bomb",
        "deep_recursion",
        "busy_loop",
        "sleep_forever",
        "ctypes_segfault",
        "huge_mmap",
        "chdir_write",
    }
    assert required <= {p.stem for p in PROBE_PATHS}, required - {p.stem for p in PROBE_PATHS}


@pytest.mark.parametrize("path", PROBE_PATHS, ids=[p.stem for p in PROBE_PATHS])
def test_probe_headers_parse(path: Path) -> None:
    probe = read_probe(path)
    assert "sandbox_failure" not in probe.expect
    assert probe.expect, f"{path.name} declares no expected status"


@pytest.mark.parametrize("path", PROBE_PATHS, ids=[p.stem for p in PROBE_PATHS])
def test_hostile_probe(path: Path, sandbox: Sandbox, world: World) -> None:
    probe = read_probe(path)
    run = run_probe(sandbox, world, probe)
    checks = list(ALWAYS) + [EFFECT_CHECKS[name] for name in probe.effects]
    problems: list[str] = []
    for check in dict.fromkeys(checks):  # each check once, in order
        problems += check(run, world)
    assert not problems, (
        f"{probe.name} ({probe.description}):\n  "
        + "\n  ".join(problems)
        + f"\n  outcome: {world.redact(repr(run.outcome))}"
    )


#: Probes whose escape works against the same engine with isolation off, so their checks are
#: shown to fail when the layer is missing (no test here passes merely because it cannot fail).
#: Kept to probes that are safe to let through on a shared machine.
CAUGHT_WITHOUT_ISOLATION = (
    "write_outside",
    "unlink_outside",
    "create_outside",
    "symlink_escape",
    "tcp_loopback",
    "udp_loopback",
    "unix_socket_abstract",
    "read_etc_shadow",
    "kill_victim",
    "signal_caller",
    "subprocess_run",
    "threads",
    "list_proc",
    "setsid_grandchild",
    "zygote_only_calls",
)


@pytest.fixture(scope="module")
def unisolated(sandbox: Sandbox, world: World) -> Iterator[Sandbox]:
    """The same engine with every isolation layer off (after ``sandbox``, so the world is set)."""
    with Sandbox(workers=1, isolation="none") as sb:
        world.sandboxes.append(sb)
        try:
            yield sb
        finally:
            world.sandboxes.remove(sb)


@pytest.mark.parametrize("name", CAUGHT_WITHOUT_ISOLATION)
def test_checks_catch_the_escape_without_isolation(
    name: str, unisolated: Sandbox, sandbox: Sandbox, world: World
) -> None:
    probe = read_probe(HOSTILE_DIR / f"{name}.py")
    try:
        run = run_probe(unisolated, world, probe)  # reset() counts both sandboxes' zygotes
        problems = [
            problem
            for check in ALWAYS
            if check is not check_sandbox_still_works
            for problem in check(run, world)
        ]
    finally:
        world.reset()
    assert problems, (
        f"{name}: no check noticed the escape with isolation off: {world.redact(repr(run.outcome))}"
    )


def test_lingering_check_catches_a_process_the_job_left_behind(
    unisolated: Sandbox, sandbox: Sandbox, world: World
) -> None:
    """Without isolation a double-forked grandchild outlives its job; the lingering check
    (which counts only processes that did not exist before the job) must name it."""
    probe = read_probe(HOSTILE_DIR / "setsid_grandchild.py")
    try:
        run = run_probe(unisolated, world, probe)
    finally:
        world.reset()
    assert run.lingering, f"the grandchild was not seen: {world.redact(repr(run.outcome))}"
    assert check_no_lingering_processes(run, world), run.lingering


#: Defence in depth: with one layer switched off (``disable_layers``), the remaining layers must
#: still stop the escape. Each entry: the layer turned off, and the probes whose outside effect
#: must still not happen. Status and the ESCAPED marker are not judged here (with seccomp off a
#: fork may well succeed); only the effects seen from outside are.
LAYER_PROOFS: dict[str, tuple[str, ...]] = {
    "seccomp": (
        "tcp_loopback",
        "udp_loopback",
        "unix_socket_abstract",
        "unix_socket_path",
        "kill_victim",
        "signal_caller",
        "kill_zygote",
        "fork_bomb",
        "setsid_grandchild",
        "read_caller_proc",
    ),
    "network_namespace": ("tcp_loopback", "udp_loopback", "unix_socket_abstract"),
    "pid_namespace": ("kill_victim", "signal_caller", "kill_zygote", "read_caller_proc"),
    "mount_namespace": (
        "write_outside",
        "create_outside",
        "unlink_outside",
        "rename_outside",
        "symlink_escape",
        "hardlink_escape",
        "chdir_write",
        "read_etc_shadow",
        "read_etc_passwd",
        "read_caller_files",
        "write_dev_shm",
        "unix_socket_path",
    ),
    "landlock": (
        "write_outside",
        "create_outside",
        "unlink_outside",
        "rename_outside",
        "symlink_escape",
        "hardlink_escape",
        "chdir_write",
        "read_etc_shadow",
        "read_etc_passwd",
        "read_caller_files",
        "write_dev_shm",
        "unix_socket_path",
    ),
    "non_root_uid": ("write_outside", "chmod_outside", "read_etc_shadow", "sethostname"),
    "uts_namespace": ("sethostname",),
}


@pytest.fixture(scope="module")
def weakened(sandbox: Sandbox, world: World) -> Iterator[dict[str, Sandbox]]:
    """One single-zygote sandbox per layer switched off, started on first use."""
    started: dict[str, Sandbox] = {}
    try:
        yield started
    finally:
        for sb in started.values():
            world.sandboxes.remove(sb)
            sb.close()


@pytest.mark.parametrize(
    ("layer", "name"),
    [(layer, name) for layer, names in LAYER_PROOFS.items() for name in names],
    ids=[f"no_{layer}-{name}" for layer, names in LAYER_PROOFS.items() for name in names],
)
def test_other_layers_hold_with_one_off(
    layer: str, name: str, weakened: dict[str, Sandbox], world: World
) -> None:
    if layer not in weakened:
        weakened[layer] = Sandbox(workers=1, disable_layers=[layer], allow_weaker=True)
        world.sandboxes.append(weakened[layer])
    sb = weakened[layer]
    assert layer not in sb.capabilities.active
    probe = read_probe(HOSTILE_DIR / f"{name}.py")
    run = run_probe(sb, world, probe)
    problems = [p for check in EFFECTS_ONLY for p in check(run, world)]
    assert not problems, (
        f"{name} with {layer} off:\n  "
        + "\n  ".join(problems)
        + f"\n  outcome: {world.redact(repr(run.outcome))}"
    )


def test_jobs_do_not_see_each_others_leftovers(sandbox: Sandbox) -> None:
    """One job plants a token in every place it can write; the next job on the same zygote (a
    one-zygote sandbox) looks everywhere and must not find it: no answer can read another's."""
    token = f"planted-{secrets.token_hex(8)}"
    plant, harvest = (HOSTILE_DIR / "cross_job" / f"{n}.py" for n in ("plant", "harvest"))
    with Sandbox(workers=1) as sb:
        (planted,) = sb.run_batch(
            [Script(source=f"P = {{'token': {token!r}}}\n{plant.read_text()}")]
        )
        assert planted.status == "ok", planted
        assert "planted.txt" in planted.stdout, planted  # it did write its own scratch dir
        for _ in range(3):
            (seen,) = sb.run_batch([Script(source=harvest.read_text())])
            assert seen.status == "ok", seen
            assert token not in seen.stdout + seen.stderr, seen


def test_a_failing_probe_never_prints_the_hosts_secrets(sandbox: Sandbox, world: World) -> None:
    """The world's repr and the redacted messages carry no secret they guard (/etc/shadow
    lines, the caller's environment)."""
    secrets_ = [t for t in world.forbidden_texts.values() if t] + [world.secret]
    shown = repr(world) + world.redact(" | ".join(secrets_))
    assert all(s not in shown for s in secrets_), "a guarded secret is in a test message"
