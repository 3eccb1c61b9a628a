"""The Python half of the harness every sandboxed child runs after the Rust recipe (stdlib only).

Loaded by file path inside the zygote (not through the ``stepstones`` package, to keep the
zygote small), but it only ever runs in a job's child, on the child's own copy of the job: the
zygote runs no Python per job, so no Python object of the zygote holds a job's bytes
(docs/design.md §6; ``rust/sandbox/src/memory.rs``). The Rust engine drives the job: it calls
these functions and itself writes every result frame on the channel (fd 3), each carrying a
per-job random token. Nothing here writes to the channel, so the program's prints, its exits and
raw writes to fd 3 without the token are not results. The token is in the child's memory,
though: a program that reads its own memory can sign its own frames, i.e. forge its own status
and values (never another job's, and never a grade: graders compare values on the host).
Frames, for the record (tag, then NUL-separated UTF-8 fields):

    S index                      a call starts (the supervisor starts its per-call CPU budget)
    V index value cpu_s          a call returned; value is the canonical literal text
    N index cpu_s                a call returned a value that is not a plain literal
    E index type message cpu_s   a call raised
    L type message               the source failed to load (call mode)
    X type message errno         the script died of an uncaught exception
    D exit_code                  the harness finished normally
"""

from __future__ import annotations

import builtins
import contextlib
import io
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

_MESSAGE_CHARS = 2000
_kept: list[Any] = []  # the zygote's stdio objects: kept alive so they never close fds 0-2


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:  # a hostile __str__ must not break the harness
        text = "<unprintable>"
    return text[:_MESSAGE_CHARS]


def prepare() -> None:
    """Fresh stdio objects on fds 0-2 (the zygote's would buffer into the wrong place)."""
    _kept.extend((sys.stdin, sys.stdout, sys.stderr))
    stdin = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)),
        encoding="utf-8",
        errors="surrogateescape",
    )
    stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
        encoding="utf-8",
        errors="surrogateescape",
    )
    stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    sys.stdin = sys.__stdin__ = stdin  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = stdout  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = stderr  # type: ignore[misc]


def flush() -> None:
    """Flush what the program printed (it may have closed or replaced the streams)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


def _fresh_main() -> types.ModuleType:
    # No source lines in tracebacks (the text is not a file): output never quotes the program,
    # so markers or secrets in its source cannot appear unless it prints them itself.
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    sys.argv = ["main.py"]
    return main


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(BaseException):
        sys.stderr.write(f"{code}\n")
    return 1


def run_script(source: str) -> tuple[int, tuple[str, str, str] | None]:
    """Run ``source`` as ``__main__``; return the exit code and the uncaught exception (type,
    message, errno text) if it died of one."""
    main = _fresh_main()
    try:
        exec(compile(source, "main.py", "exec"), main.__dict__)
    except SystemExit as exc:
        return _exit_code(exc), None
    except BaseException as exc:  # reported as data
        with contextlib.suppress(BaseException):  # as Python prints it, minus the harness frame
            traceback.print_exception(
                type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None
            )
        err = getattr(exc, "errno", None)
        return 1, (type(exc).__name__, _text(exc), str(err) if isinstance(err, int) else "")
    return 0, None


def load(source: str, function: str) -> tuple[Callable[..., Any] | None, str, str]:
    """Exec ``source`` and find ``function``: ``(fn, "", "")`` or ``(None, type, message)``."""
    main = _fresh_main()
    try:
        exec(compile(source, "main.py", "exec"), main.__dict__)
    except BaseException as exc:  # SystemExit included: reported as data
        return None, type(exc).__name__, _text(exc)
    fn = main.__dict__.get(function)
    if fn is None:
        return None, "NameError", f"name {function!r} is not defined"
    if not callable(fn):
        return None, "TypeError", f"{function!r} is not callable"
    return fn, "", ""


def call(fn: Callable[..., Any], text: str, literal: Any) -> tuple[str, list[str]]:
    """One call on a literal argument list: ``(tag, fields)`` of its result frame."""
    clock = time.process_time
    start = clock()
    try:
        a, kw = literal.parse_args(text)
        value = fn(*a, **kw)
    except BaseException as exc:  # SystemExit/KeyboardInterrupt included
        return "E", [type(exc).__name__, _text(exc), repr(clock() - start)]
    spent = repr(clock() - start)
    try:
        dumped = literal.dump(value)
    except BaseException:  # not a literal, or a hostile __repr__
        return "N", [spent]
    if not isinstance(dumped, str):  # the program replaced the codec: not a literal
        return "N", [spent]
    return "V", [dumped, spent]
