"""A SandboxFusion-compatible ``POST /run_code`` for Python, backed by the stepstones sandbox.

verl's sandbox_fusion client (``verl/utils/reward_score/sandbox_fusion/utils.py``, 0.9.1) posts
``{code, stdin, compile_timeout, run_timeout, memory_limit_MB, language, files, fetch_files}``
and reads ``status`` ("Success", "Failed", "SandboxError"), ``compile_result`` and
``run_result.{status, stdout, stderr, return_code, execution_time}`` with run status
"Finished", "TimeLimitExceeded" or "Error". Those are the only fields produced here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import msgspec

from stepstones.errors import RunCodeError
from stepstones.sandbox._types import Limits, Outcome, Script

if TYPE_CHECKING:
    from stepstones.sandbox import Sandbox

__all__ = ["RunCodeRequest", "outcome_to_response", "run_code"]

_PYTHON = frozenset({"python", "python3"})


class RunCodeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """SandboxFusion's request, as verl's client sends it.

    code: the Python program; stdin: its standard input.
    run_timeout: wall and CPU seconds the program may take (capped by the server's
        ``max_run_timeout_s``).
    memory_limit_MB: its address-space limit in MiB (at least 16; capped by ``max_memory_mib``).
    compile_timeout: accepted for compatibility and **ignored**: Python is not compiled ahead,
        so ``run_timeout`` bounds everything the program does.
    language: ``python`` or ``python3``; anything else is refused (400).
    files, fetch_files: must be empty (refused with 400 otherwise): code is sent inline and
        nothing is read back.
    """

    code: str
    language: str = "python"
    stdin: str | None = None
    run_timeout: float = 10.0
    compile_timeout: float = 10.0  # ignored: see the docstring
    memory_limit_MB: int = 1024  # noqa: N815 - SandboxFusion's field name
    files: dict[str, Any] = {}
    fetch_files: list[str] = []


def limits_for(req: RunCodeRequest, *, max_run_timeout_s: float, max_memory_mib: int) -> Limits:
    """Sandbox limits from the request, capped by the server's maxima."""
    if req.language not in _PYTHON:
        raise RunCodeError(
            f"language {req.language!r} is not supported here: stepstones runs Python only"
        )
    if req.files or req.fetch_files:
        raise RunCodeError("files and fetch_files are not supported: send the code inline")
    if not (req.run_timeout > 0 and math.isfinite(req.run_timeout)):
        raise RunCodeError(
            f"run_timeout must be a positive number of seconds, got {req.run_timeout}"
        )
    if req.memory_limit_MB < 16:
        raise RunCodeError(f"memory_limit_MB must be >= 16, got {req.memory_limit_MB}")
    wall = min(req.run_timeout, max_run_timeout_s)
    return Limits(
        wall_time_s=wall,
        cpu_time_s=wall,
        call_cpu_time_s=wall,
        memory_mib=min(req.memory_limit_MB, max_memory_mib),
    )


def outcome_to_response(out: Outcome) -> dict[str, Any]:
    """SandboxFusion's RunCodeResponse for one outcome."""
    if out.status == "sandbox_failure":
        return {
            "status": "SandboxError",
            "message": out.detail or "the sandbox failed to run the code",
            "compile_result": None,
            "run_result": None,
            "executor_pod_name": None,
            "files": {},
        }
    if out.status == "ok":
        run_status, code = "Finished", 0
    elif out.status == "timeout":
        run_status, code = "TimeLimitExceeded", None
    elif out.status == "runtime_error":
        run_status, code = "Finished", out.exit_code if out.exit_code is not None else 1
    else:  # memory_limit, output_limit, denied_syscall, signal
        run_status = "Error"
        code = out.exit_code if out.exit_code is not None else -(out.signal or 9)
    return {
        "status": "Success" if out.status == "ok" else "Failed",
        "message": "" if out.status == "ok" else (out.detail or out.status),
        "compile_result": None,
        "run_result": {
            "status": run_status,
            "execution_time": out.wall_time_s,
            "return_code": code,
            "stdout": out.stdout,
            "stderr": out.stderr,
        },
        "executor_pod_name": None,
        "files": {},
    }


async def run_code(
    sandbox: Sandbox, req: RunCodeRequest, *, max_run_timeout_s: float, max_memory_mib: int
) -> dict[str, Any]:
    limits = limits_for(req, max_run_timeout_s=max_run_timeout_s, max_memory_mib=max_memory_mib)
    out = await sandbox.run(Script(source=req.code, stdin=req.stdin or "", limits=limits))
    return outcome_to_response(out)
