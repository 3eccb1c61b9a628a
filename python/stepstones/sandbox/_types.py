"""Data the sandbox takes and gives: limits, jobs and outcomes (all frozen msgspec Structs)."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "LAYERS",
    "REQUIRED_LAYERS",
    "Call",
    "CallResult",
    "Capabilities",
    "Isolation",
    "Job",
    "Layer",
    "Limits",
    "Outcome",
    "Script",
    "Status",
]

#: What happened to one job. Untrusted code never raises into the caller: it produces one of these.
Status = Literal[
    "ok",  # ran to the end (script: exit 0; call: every call returned or raised inside f)
    "runtime_error",  # script exited non-zero or died on an uncaught exception
    "timeout",  # wall-clock or CPU deadline passed; the whole process tree was killed
    "memory_limit",  # address-space limit hit (MemoryError / allocation failure)
    "output_limit",  # stdout+stderr exceeded the cap while being read
    "denied_syscall",  # seccomp refused a syscall (surfaces in Python as PermissionError)
    "signal",  # killed by a signal (e.g. SIGSEGV from ctypes)
    "sandbox_failure",  # the machinery failed (zygote died, setup step failed), not the code
]


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Resource limits of one job. Defaults suit grading short programs.

    wall_time_s: wall-clock deadline for the whole job, enforced from outside the child (SIGKILL).
    cpu_time_s: RLIMIT_CPU of the child, whole seconds, rounded up.
    call_cpu_time_s: per-call CPU budget in call mode; a call over it ends the job as a timeout
        and later calls are reported as not run.
    memory_mib: RLIMIT_AS of the child (address space, not RSS).
    output_kib: cap on stdout and on stderr each; more is cut and flagged truncated.
    file_size_kib: RLIMIT_FSIZE for files written in the scratch directory.
    open_files: RLIMIT_NOFILE.
    """

    wall_time_s: float = 10.0
    cpu_time_s: float = 5.0
    call_cpu_time_s: float = 2.0
    memory_mib: int = 512
    output_kib: int = 64
    file_size_kib: int = 1024
    open_files: int = 64


class Script(msgspec.Struct, frozen=True, kw_only=True):
    """A *script* job: run ``source`` as ``__main__`` with ``stdin``; capture its output."""

    source: str
    stdin: str = ""
    limits: Limits | None = None  # None: the sandbox's default limits


class Call(msgspec.Struct, frozen=True, kw_only=True):
    """A *call* job: exec ``source`` once, then call ``function`` on each argument list.

    Each item of ``args`` is a Python-literal argument list as the teacher writes it, e.g.
    ``"'John', {'age': 20}"`` (parsed in the child with a literal parser, never ``eval``). To run
    a checker (HumanEval's ``check``), put it in ``source`` and call it.

    Results travel over a pipe the harness owns, in frames signed with a per-job token: what the
    program prints, its exit code and bytes it writes to the pipe itself are not results. What a
    job *can* forge is its own: the harness shares its process, so a program that reads its own
    memory can find its own token and report its own status and values — which it controls
    anyway by returning them. So a verdict computed inside the child (a ``check()`` that
    asserts) is the job's own word. What a job cannot forge is anything of another job (its
    token, pipe and bytes are out of reach: docs/design.md §6) or a grade: stepstones' graders
    and rewards compare the returned values with gold values on the host.
    """

    source: str
    function: str
    args: tuple[str, ...]
    limits: Limits | None = None


#: Either kind of job.
Job = Script | Call


class CallResult(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one call in a call job.

    ``value`` is the canonical literal (``repr``) of the return value when ``ok``; ``value`` is
    ``None`` and ``not_literal`` is true when the value is not a plain literal (int, float,
    complex, str, bytes, bool, None, and tuples/lists/dicts/sets of those).
    ``exception_type``/``exception_message`` are set when the call raised. ``ran`` is false for
    calls never reached because the child died or timed out before them.
    """

    ran: bool
    ok: bool = False
    value: str | None = None
    not_literal: bool = False
    exception_type: str | None = None
    exception_message: str | None = None
    cpu_time_s: float = 0.0


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What happened to one job: data, never an exception."""

    status: Status
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    exit_code: int | None = None
    signal: int | None = None
    exception_type: str | None = None  # uncaught exception of a script / harness-level failure
    exception_message: str | None = None
    detail: str = ""  # a sentence for humans, e.g. which setup step failed and its errno
    cpu_time_s: float = 0.0
    wall_time_s: float = 0.0
    max_rss_kib: int = 0
    calls: tuple[CallResult, ...] = ()  # call mode only, one per args item, in order

    @property
    def ok(self) -> bool:
        return self.status == "ok"


#: How much isolation a sandbox applies. ``"full"`` is the default and the only safe choice for
#: untrusted code; ``"none"`` keeps the same engine (zygotes, fork, rlimits, supervision) with every
#: isolation layer off, so the cost of isolation can be measured. It must be asked for by name.
Isolation = Literal["full", "none"]

#: The isolation layers the engine knows, in the order the capability report prints them.
Layer = Literal[
    "network_namespace",  # a fresh, empty network namespace: no interfaces but a down loopback
    "mount_namespace",  # a private mount namespace; the scratch directory is a small tmpfs
    "pid_namespace",  # jobs see only their zygote (pid 1) and themselves
    "ipc_namespace",  # no System V IPC / POSIX message queues shared with the host
    "uts_namespace",  # hostname changes stay inside
    "user_namespace",  # used instead of root privileges when started unprivileged
    "non_root_uid",  # jobs run as an unprivileged uid/gid with no supplementary groups
    "landlock",  # filesystem: read-only interpreter files, writable scratch dir, nothing else
    "no_new_privs",  # no setuid binaries, no privilege gain
    "seccomp",  # syscall allowlist: no fork/exec, sockets, signals to others, ptrace, timers
]
LAYERS: tuple[Layer, ...] = (
    "network_namespace",
    "mount_namespace",
    "pid_namespace",
    "ipc_namespace",
    "uts_namespace",
    "user_namespace",
    "non_root_uid",
    "landlock",
    "no_new_privs",
    "seccomp",
)
#: Layers whose absence makes a full-isolation sandbox refuse to start unless ``allow_weaker``.
#: (``non_root_uid`` is required only when started as root; ``user_namespace`` only when not.)
REQUIRED_LAYERS: tuple[Layer, ...] = ("network_namespace", "landlock", "no_new_privs", "seccomp")


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """Which isolation layers are active for a sandbox on this kernel, as this user.

    ``active`` lists the layers every job gets; ``missing`` the required ones that could not be
    applied (empty unless the sandbox was started with ``allow_weaker=True``); ``notes`` says
    why each inactive layer is inactive (errno text from the probe, or "disabled").
    """

    isolation: Isolation
    running_as_root: bool
    landlock_abi: int  # 0 when Landlock is unavailable
    active: tuple[Layer, ...]
    missing: tuple[Layer, ...]
    notes: tuple[str, ...] = ()

    def has(self, layer: Layer) -> bool:
        """True when ``layer`` is applied to every job."""
        return layer in self.active
