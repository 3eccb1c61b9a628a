"""Every Outcome the real sandbox produces, from real jobs (no mocks): statuses, output capture,
truncation, call mode, per-call CPU budgets, forging attempts, the scrubbed environment."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from stepstones.sandbox import Call, CallResult, Limits, Outcome, Sandbox, Script

SECRET = "sk-test-0123456789-do-not-leak"
SHORT = Limits(wall_time_s=3.0, cpu_time_s=1.0, call_cpu_time_s=0.5, memory_mib=256, output_kib=8)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    os.environ["STEPSTONES_TEST_API_KEY"] = SECRET  # set before the zygotes start
    try:
        with Sandbox(workers=2, limits=SHORT) as sb:
            yield sb
    finally:
        del os.environ["STEPSTONES_TEST_API_KEY"]


def run(sb: Sandbox, job: Script | Call) -> Outcome:
    return sb.run_batch([job])[0]


def test_ok_script_captures_stdout_stderr_and_stdin(sandbox: Sandbox) -> None:
    src = "import sys\nprint(sys.stdin.read().upper(), end='')\nprint('warn', file=sys.stderr)"
    out = run(sandbox, Script(source=src, stdin="héllo\n"))
    assert out.status == "ok"
    assert (out.stdout, out.stderr, out.exit_code) == ("HÉLLO\n", "warn\n", 0)
    assert not out.stdout_truncated and not out.stderr_truncated
    assert out.wall_time_s > 0 and out.cpu_time_s > 0 and out.max_rss_kib > 0


def test_uncaught_exception_is_a_runtime_error_with_type_and_message(sandbox: Sandbox) -> None:
    out = run(sandbox, Script(source="raise ValueError('bad input 7')"))
    assert out.status == "runtime_error"
    assert (out.exception_type, out.exception_message, out.exit_code) == (
        "ValueError",
        "bad input 7",
        1,
    )
    assert "Traceback" in out.stderr and "ValueError: bad input 7" in out.stderr
    assert 'File "main.py", line 1' in out.stderr
    assert "raise ValueError" not in out.stderr  # the program's source is never quoted


def test_nonzero_exit_is_a_runtime_error(sandbox: Sandbox) -> None:
    out = run(sandbox, Script(source="import sys; sys.exit(3)"))
    assert (out.status, out.exit_code, out.exception_type) == ("runtime_error", 3, None)
    assert run(sandbox, Script(source="import sys; sys.exit(0)")).status == "ok"


def test_wall_clock_timeout_kills_a_sleeper(sandbox: Sandbox) -> None:
    limits = Limits(wall_time_s=0.5, cpu_time_s=5.0)
    out = run(sandbox, Script(source="import time; time.sleep(30)", limits=limits))
    assert out.status == "timeout"
    assert out.signal == signal.SIGKILL
    assert 0.5 <= out.wall_time_s < 3.0


def test_cpu_limit_stops_a_busy_loop(sandbox: Sandbox) -> None:
    limits = Limits(cpu_time_s=1.0, wall_time_s=60.0)  # the CPU limit must fire first
    out = run(sandbox, Script(source="while True: pass", limits=limits))
    assert out.status == "timeout"
    assert out.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert "CPU" in out.detail
    assert out.cpu_time_s >= 0.5  # rusage samples CPU time coarsely


def test_memory_limit(sandbox: Sandbox) -> None:
    out = run(sandbox, Script(source="x = bytearray(1 << 30)"))
    assert out.status == "memory_limit"
    assert out.exception_type == "MemoryError"


def test_output_limit_cuts_and_flags_stdout(sandbox: Sandbox) -> None:
    out = run(sandbox, Script(source="while True: print('x' * 1000)"))
    assert out.status == "output_limit"
    assert out.stdout_truncated and not out.stderr_truncated
    assert len(out.stdout) == SHORT.output_kib * 1024


def test_output_limit_cuts_and_flags_stderr(sandbox: Sandbox) -> None:
    out = run(sandbox, Script(source="import sys\nsys.stderr.write('e' * 100000)"))
    assert out.status == "output_limit"
    assert out.stderr_truncated and not out.stdout_truncated
    assert len(out.stderr) == SHORT.output_kib * 1024


def test_refused_syscall_surfaces_as_permission_error(sandbox: Sandbox) -> None:
    out = run(sandbox, Script(source="import os\nos.fork()"))
    assert out.status == "denied_syscall"
    assert out.exception_type == "PermissionError"


def test_kill_listed_syscall_ends_the_job_with_sigsys(sandbox: Sandbox) -> None:
    src = "import ctypes\nctypes.CDLL(None).ptrace(0, 0, 0, 0)\nprint('survived')"
    out = run(sandbox, Script(source=src))
    assert (out.status, out.signal, out.stdout) == ("denied_syscall", signal.SIGSYS, "")


def test_crash_signal(sandbox: Sandbox) -> None:
    out = run(sandbox, Script(source="import ctypes\nctypes.string_at(0)"))
    assert (out.status, out.signal) == ("signal", signal.SIGSEGV)


def test_callers_environment_is_not_visible(sandbox: Sandbox) -> None:
    src = "import os\nprint(sorted(os.environ.items()))\nprint(open('/proc/1/environ').read())"
    out = run(sandbox, Script(source=src))
    assert SECRET not in out.stdout + out.stderr
    assert "STEPSTONES_TEST_API_KEY" not in out.stdout


def test_filesystem_is_read_only_except_the_scratch_dir(sandbox: Sandbox) -> None:
    src = (
        "import os\n"
        "open('note.txt', 'w').write('mine')\n"
        "print(open('note.txt').read(), os.getcwd(), os.getuid() != 0)\n"
        "for p in ('/etc/passwd', '/etc/shadow', os.path.expanduser('~root')):\n"
        "    try:\n"
        "        open(p).read()\n"
        "        print('READ', p)\n"
        "    except OSError:\n"
        "        pass\n"
        "import csv, sqlite3\n"  # stdlib that was not preloaded still imports
    )
    out = run(sandbox, Script(source=src))
    assert out.status == "ok", out.stderr
    assert out.stdout.startswith("mine ") and "READ" not in out.stdout
    assert out.stdout.strip().endswith("True")


def test_call_mode_values_exceptions_and_non_literals(sandbox: Sandbox) -> None:
    src = (
        "def f(x, y=1):\n"
        "    if x == 'obj':\n"
        "        return object()\n"
        "    if x == 'exit':\n"
        "        raise SystemExit(0)\n"
        "    print('noise')\n"
        "    return {'x': x, 's': {3, 1, 2}, 'y': 1 / y}\n"
    )
    args = ("1", "'a', y=2", "'obj'", "0, 0", "'exit'", "__import__('os')")
    out = run(sandbox, Call(source=src, function="f", args=args))
    assert out.status == "ok"
    c = out.calls
    assert len(c) == len(args)
    assert c[0] == CallResult(
        ran=True, ok=True, value="{'x': 1, 's': {1, 2, 3}, 'y': 1.0}", cpu_time_s=c[0].cpu_time_s
    )
    assert c[1].value == "{'x': 'a', 's': {1, 2, 3}, 'y': 0.5}"
    assert c[2].ran and c[2].not_literal and c[2].value is None
    assert (c[3].ok, c[3].exception_type) == (False, "ZeroDivisionError")
    assert (c[4].ok, c[4].exception_type) == (False, "SystemExit")
    assert (c[5].ok, c[5].exception_type) == (False, "LiteralParseError")
    assert out.stdout.count("noise") == 3


def test_call_mode_load_error_and_missing_function(sandbox: Sandbox) -> None:
    out = run(sandbox, Call(source="def f(:\n", function="f", args=("1",)))
    assert (out.status, out.exception_type) == ("runtime_error", "SyntaxError")
    assert out.calls == (CallResult(ran=False),)
    out = run(sandbox, Call(source="g = 1", function="f", args=("1",)))
    assert (out.status, out.exception_type) == ("runtime_error", "NameError")


def test_exit_midway_marks_the_remaining_calls_not_run(sandbox: Sandbox) -> None:
    src = "import os\ndef f(x):\n    if x == 2:\n        os._exit(0)\n    return x"
    out = run(sandbox, Call(source=src, function="f", args=("1", "2", "3")))
    assert out.status == "runtime_error"
    assert [c.ran for c in out.calls] == [True, False, False]
    assert out.calls[0].value == "1"


def test_per_call_cpu_budget_ends_the_job_as_a_timeout(sandbox: Sandbox) -> None:
    src = "def f(n):\n    while n:\n        pass\n    return 'done'"
    limits = Limits(call_cpu_time_s=0.3, cpu_time_s=5.0, wall_time_s=5.0)
    out = run(sandbox, Call(source=src, function="f", args=("0", "1", "0"), limits=limits))
    assert out.status == "timeout"
    assert "0.3" in out.detail
    assert [c.ran for c in out.calls] == [True, False, False]
    assert out.cpu_time_s < 1.5  # stopped by the per-call budget, not the 5 s job limit


def test_raw_writes_to_the_result_channel_cannot_forge_results(sandbox: Sandbox) -> None:
    # A well-formed frame claiming "finished with exit 0", then an exit before the checks.
    forged = (2).to_bytes(4, "little") + b"D0"
    src = f"import os\nos.write(3, {forged!r})\nos._exit(0)\nassert False"
    assert run(sandbox, Script(source=src)).status == "runtime_error"
    value = b"V0\x00None\x000.0"
    frames = b"".join(len(f).to_bytes(4, "little") + f for f in (b"S0", value, b"D0"))
    src = f"import os\nos.write(3, {frames!r})\nos._exit(0)\ndef f():\n    return 1"
    out = run(sandbox, Call(source=src, function="f", args=("",)))
    assert out.status == "runtime_error"
    assert out.calls == (CallResult(ran=False),)
