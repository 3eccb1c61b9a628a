"""The harness every sandboxed child runs after the Rust recipe locked it down (stdlib only).

Loaded by file path inside the zygote (not through the ``stepstones`` package, to keep the
zygote small). On entry the child has: fd 0 = the job's stdin, fds 1/2 = capped pipes, fd 3 =
the result channel that only the harness writes, and nothing else. Results travel on fd 3 as
length-framed records: u32 little-endian length, one tag byte, NUL-separated UTF-8 fields:

    S index                      a call starts (the supervisor starts its per-call CPU budget)
    V index value cpu_s          a call returned; value is the canonical literal text
    N index cpu_s                a call returned a value that is not a plain literal
    E index type message cpu_s   a call raised
    L type message               the source failed to load (call mode)
    X type message errno         the script died of an uncaught exception
    D exit_code                  the harness finished normally

Nothing the program prints reaches fd 3, and exiting early (``sys.exit``, ``os._exit``) only
means later records are missing, which the parent reads as calls that did not run.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import sys
import time
import traceback
import types
from typing import Any

CHANNEL_FD = 3
_MESSAGE_CHARS = 2000
_kept: list[Any] = []  # the zygote's stdio objects: kept alive so they never close fds 0-2


def _send(tag: bytes, *fields: str) -> None:
    payload = tag + b"\0".join(
        f.replace("\0", "\\0").encode("utf-8", "backslashreplace") for f in fields
    )
    view = memoryview(len(payload).to_bytes(4, "little") + payload)
    while view:
        view = view[os.write(CHANNEL_FD, view) :]


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    return text[:_MESSAGE_CHARS]


def _type_name(exc: BaseException) -> str:
    return type(exc).__name__


def _reset_stdio() -> None:
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


def _fresh_main() -> types.ModuleType:
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    sys.argv = ["main.py"]
    return main


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):  # the program may have closed them
            stream.flush()


def _finish(code: int) -> None:
    _flush()
    _send(b"D", str(code))
    os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(BaseException):
        sys.stderr.write(f"{code}\n")
    return 1


def _script(source: str) -> None:
    main = _fresh_main()
    try:
        exec(compile(source, "main.py", "exec"), main.__dict__)
    except SystemExit as exc:
        _finish(_exit_code(exc))
    except BaseException as exc:
        with contextlib.suppress(BaseException):  # as Python prints it, minus the harness frame
            traceback.print_exception(
                type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None
            )
        _flush()
        err = getattr(exc, "errno", None)
        _send(b"X", _type_name(exc), _text(exc), str(err) if isinstance(err, int) else "")
        _finish(1)
    _finish(0)


def _calls(source: str, function: str, args: list[str], literal: Any) -> None:
    main = _fresh_main()
    try:
        exec(compile(source, "main.py", "exec"), main.__dict__)
        fn = main.__dict__.get(function)
        if fn is None:
            raise NameError(f"name {function!r} is not defined")
        if not callable(fn):
            raise TypeError(f"{function!r} is not callable")
    except BaseException as exc:
        _flush()
        _send(b"L", _type_name(exc), _text(exc))
        _finish(1)
        return
    clock = time.process_time
    for index, text in enumerate(args):
        _send(b"S", str(index))
        start = clock()
        try:
            a, kw = literal.parse_args(text)
            value = fn(*a, **kw)
        except BaseException as exc:
            _send(b"E", str(index), _type_name(exc), _text(exc), repr(clock() - start))
            continue
        try:
            dumped = literal.dump(value)
        except BaseException:
            _send(b"N", str(index), repr(clock() - start))
        else:
            _send(b"V", str(index), dumped, repr(clock() - start))
    _finish(0)


def run(job: tuple[int, str, str, list[str]], literal: Any) -> None:
    """Run one job in the locked-down child; never returns (the process exits)."""
    kind, source, function, args = job
    try:
        _reset_stdio()
        if kind == 0:
            _script(source)
        else:
            _calls(source, function, args, literal)
    except BaseException:
        with contextlib.suppress(BaseException):
            os.write(2, traceback.format_exc().encode("utf-8", "replace"))
    os._exit(70)  # only reached if the harness itself broke: no D record, so not "ok"
