"""Jobs to the engine's wire tuples, and the engine's raw facts to an :class:`Outcome`.

The engine reports facts (exit code, signal, which deadline fired, captured bytes, rusage, the
bytes of the harness channel); this module decides the :data:`Status` from them, in one place.
"""

from __future__ import annotations

import errno
import math
import signal as signals
from typing import Any

from stepstones.errors import ConfigError
from stepstones.sandbox._types import Call, CallResult, Job, Limits, Outcome, Script, Status

__all__ = ["build_outcome", "check_limits", "job_tuple"]

#: Longest exception message kept in an Outcome (the harness cuts longer ones too).
_MESSAGE_CHARS = 2000

# Frame tags of the harness channel (see _harness.py): one byte, then NUL-separated UTF-8 fields.
_START, _VALUE, _NOT_LITERAL, _EXCEPTION = b"S", b"V", b"N", b"E"
_LOAD_ERROR, _UNCAUGHT, _DONE = b"L", b"X", b"D"


def check_limits(limits: Limits) -> None:
    """Raise :class:`ConfigError` naming the first limit out of range."""
    checks = (
        ("wall_time_s", limits.wall_time_s, 0.001),
        ("cpu_time_s", limits.cpu_time_s, 0.001),
        ("call_cpu_time_s", limits.call_cpu_time_s, 0.001),
        ("memory_mib", limits.memory_mib, 16),
        ("output_kib", limits.output_kib, 1),
        ("file_size_kib", limits.file_size_kib, 0),
        ("open_files", limits.open_files, 8),
    )
    for name, value, low in checks:
        if not math.isfinite(value) or value < low:
            raise ConfigError(f"Limits.{name} must be >= {low}, got {value!r}")


def _limits_of(job: Job, default: Limits) -> Limits:
    limits = job.limits if job.limits is not None else default
    if limits is not default:
        check_limits(limits)
    return limits


def job_tuple(job: Job, default: Limits) -> tuple[Any, ...]:
    """The engine's wire form of one job (validated here, so bad input fails before running)."""
    if not isinstance(job, Script | Call):
        raise ConfigError(f"a sandbox job is a Script or a Call, got {type(job).__name__}")
    limits = _limits_of(job, default)
    if isinstance(job, Script):
        kind, stdin, function, args = 0, job.stdin, "", []
    else:
        if not job.function.isidentifier():
            raise ConfigError(f"Call.function must be an identifier, got {job.function!r}")
        kind, stdin, function, args = 1, "", job.function, list(job.args)
    return (
        kind,
        job.source,
        stdin,
        function,
        args,
        float(limits.wall_time_s),
        math.ceil(limits.cpu_time_s),
        float(limits.call_cpu_time_s),
        int(limits.memory_mib),
        int(limits.output_kib),
        int(limits.file_size_kib),
        int(limits.open_files),
    )


def _frames(channel: bytes) -> list[tuple[bytes, list[str]]]:
    out: list[tuple[bytes, list[str]]] = []
    pos, end = 0, len(channel)
    while pos + 4 <= end:
        size = int.from_bytes(channel[pos : pos + 4], "little")
        body = channel[pos + 4 : pos + 4 + size]
        if len(body) < size or size == 0:
            break  # a frame cut short by the child's death
        fields = body[1:].decode("utf-8", "replace").split("\0")
        out.append((body[:1], fields))
        pos += 4 + size
    return out


def _cut(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[:_MESSAGE_CHARS] + "…"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def build_outcome(job: Job, raw: tuple[Any, ...], default: Limits) -> Outcome:
    """Decide the :data:`Status` of a finished job from the engine's raw facts."""
    (
        failure,
        exit_code,
        signal,
        timed_out,
        call_timed_out,
        output_exceeded,
        stdout_b,
        stderr_b,
        stdout_truncated,
        stderr_truncated,
        cpu_time_s,
        wall_time_s,
        max_rss_kib,
        channel,
    ) = raw
    limits = job.limits if job.limits is not None else default
    frames = _frames(channel)
    done_code: int | None = None
    uncaught: list[str] | None = None
    load_error: list[str] | None = None
    n_calls = len(job.args) if isinstance(job, Call) else 0
    calls: list[CallResult | None] = [None] * n_calls
    for tag, fields in frames:
        if tag == _DONE:
            done_code = int(fields[0])
        elif tag == _UNCAUGHT:
            uncaught = fields
        elif tag == _LOAD_ERROR:
            load_error = fields
        elif tag in (_VALUE, _NOT_LITERAL, _EXCEPTION):
            index = int(fields[0])
            if 0 <= index < n_calls:
                calls[index] = _call_result(tag, fields)
    results = tuple(c if c is not None else CallResult(ran=False) for c in calls)

    status: Status
    detail = ""
    exception_type: str | None = None
    exception_message: str | None = None
    if uncaught is not None:
        exception_type, exception_message = uncaught[0], _cut(uncaught[1])
    elif load_error is not None:
        exception_type, exception_message = load_error[0], _cut(load_error[1])

    if failure is not None:
        status, detail = "sandbox_failure", failure
    elif output_exceeded:
        status = "output_limit"
        detail = f"stdout or stderr passed {limits.output_kib} KiB; the process was killed"
    elif (
        timed_out
        or call_timed_out
        or signal == signals.SIGXCPU
        # SIGXCPU ignored by the program: the hard limit (one second later) sends SIGKILL
        or (signal == signals.SIGKILL and cpu_time_s >= math.ceil(limits.cpu_time_s))
    ):
        status = "timeout"
        if call_timed_out:
            detail = f"a call used more than {limits.call_cpu_time_s} s of CPU"
        elif timed_out:
            detail = f"wall-clock deadline of {limits.wall_time_s} s passed"
        else:
            detail = f"CPU limit of {math.ceil(limits.cpu_time_s)} s passed"
    elif signal == signals.SIGSYS:
        status, detail = "denied_syscall", "killed by seccomp for a forbidden system call"
    elif exception_type == "MemoryError" or (
        isinstance(job, Call) and any(c.exception_type == "MemoryError" for c in results)
    ):
        status, detail = "memory_limit", f"address space limit of {limits.memory_mib} MiB hit"
    elif signal is not None:
        status = "signal"
        detail = f"killed by signal {signal} ({_signal_name(signal)})"
    elif uncaught is not None and exception_type == "PermissionError" and _eperm(uncaught):
        status, detail = "denied_syscall", "a system call was refused (PermissionError, EPERM)"
    elif done_code is None:
        status = "runtime_error"
        detail = f"the process exited with code {exit_code} before the harness finished"
    elif load_error is not None or uncaught is not None or done_code != 0 or exit_code != 0:
        status = "runtime_error"
        if load_error is not None:
            detail = "loading the source failed"
    else:
        status = "ok"
    return Outcome(
        status=status,
        stdout=_decode(stdout_b),
        stderr=_decode(stderr_b),
        stdout_truncated=stdout_truncated,
        stderr_truncated=stderr_truncated,
        exit_code=exit_code,
        signal=signal,
        exception_type=exception_type,
        exception_message=exception_message,
        detail=detail,
        cpu_time_s=cpu_time_s,
        wall_time_s=wall_time_s,
        max_rss_kib=max_rss_kib,
        calls=results,
    )


def _eperm(fields: list[str]) -> bool:
    return len(fields) > 2 and fields[2] == str(errno.EPERM)


def _signal_name(number: int) -> str:
    try:
        return signals.Signals(number).name
    except ValueError:
        return "unknown"


def _call_result(tag: bytes, fields: list[str]) -> CallResult:
    cpu_time_s = float(fields[-1]) if len(fields) > 1 else 0.0
    if tag == _VALUE:
        return CallResult(ran=True, ok=True, value=fields[1], cpu_time_s=cpu_time_s)
    if tag == _NOT_LITERAL:
        return CallResult(ran=True, ok=True, not_literal=True, cpu_time_s=cpu_time_s)
    return CallResult(
        ran=True,
        ok=False,
        exception_type=fields[1],
        exception_message=_cut(fields[2]) if len(fields) > 3 else "",
        cpu_time_s=cpu_time_s,
    )
