"""Stub of the compiled sandbox engine (rust/sandbox). Only stepstones.sandbox imports it."""

from typing import final

__all__ = ["Pool", "__version__", "zygote_main"]

__version__: str

#: (kind, source, stdin, function, args, wall_time_s, cpu_time_s, call_cpu_time_s,
#:  memory_mib, output_kib, file_size_kib, open_files)
_JobTuple = tuple[int, str, str, str, list[str], float, int, float, int, int, int, int]
#: (failure, exit_code, signal, timed_out, call_timed_out, output_exceeded, stdout, stderr,
#:  stdout_truncated, stderr_truncated, cpu_time_s, wall_time_s, max_rss_kib, channel)
_RawTuple = tuple[
    str | None,
    int | None,
    int | None,
    bool,
    bool,
    bool,
    bytes,
    bytes,
    bool,
    bool,
    float,
    float,
    int,
    bytes,
]

@final
class Pool:
    def __new__(
        cls,
        *,
        python: str,
        argv: list[str],
        workers: int,
        disabled: list[str],
        scratch_root: str,
        readable: list[str],
    ) -> Pool: ...
    @property
    def workers(self) -> int: ...
    def capabilities(self) -> list[tuple[str, bool, str]]: ...
    def zygote_pids(self) -> list[int]: ...
    def run_batch(self, jobs: list[_JobTuple]) -> list[_RawTuple]: ...
    def run_twins(self, job: _JobTuple) -> list[_RawTuple]: ...
    def submit(self, job_id: int, job: _JobTuple) -> None: ...
    def cancel_job(self, job_id: int) -> None: ...
    def collect(self, timeout_s: float) -> list[tuple[int, _RawTuple]] | None: ...
    def close(self) -> None: ...

def zygote_main(ctrl_fd: int, harness: object, literal: object) -> None: ...
