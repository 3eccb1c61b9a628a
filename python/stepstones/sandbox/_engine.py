"""The :class:`Sandbox`: a pool of zygotes driven by the Rust engine, and its async face."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import itertools
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.to_thread

from stepstones.errors import (
    ConfigError,
    IsolationUnavailableError,
    SandboxClosedError,
    SandboxError,
)
from stepstones.sandbox._outcome import build_outcome, check_limits, job_tuple
from stepstones.sandbox._paths import bootstrap_argv, readable_paths
from stepstones.sandbox._types import (
    LAYERS,
    REQUIRED_LAYERS,
    Capabilities,
    Isolation,
    Job,
    Layer,
    Limits,
    Outcome,
)

__all__ = ["Sandbox", "close_shared_sandbox", "shared_sandbox"]

log = logging.getLogger("stepstones.sandbox")


def _load_pool_class() -> Any:
    try:
        from stepstones import _sandbox  # noqa: PLC0415 - a missing build is a clear error
    except ImportError as exc:
        raise SandboxError(
            f"the sandbox extension stepstones._sandbox is not built ({exc}); run `make install`"
        ) from exc
    pool = getattr(_sandbox, "Pool", None)
    if pool is None:
        raise SandboxError("the sandbox engine is not built yet in stepstones._sandbox")
    return pool


class Sandbox:
    """A pool of isolated zygote processes that run :class:`Script` and :class:`Call` jobs.

    ``workers``: number of zygotes (``None``: one per CPU this process may run on); jobs run
    in parallel up to this number. ``limits``: default :class:`Limits` for jobs that carry none.
    ``allow_weaker``: start even if a required isolation layer cannot be applied here (the
    :attr:`capabilities` report says which are missing); without it such a sandbox refuses to
    start with :class:`~stepstones.errors.IsolationUnavailableError` (fail closed).
    ``isolation="none"`` turns every isolation layer off (for measuring their cost only; never
    for untrusted code). ``disable_layers`` forces named layers off, as if this kernel lacked
    them (to test fail-closed behaviour and weaker modes).

    The zygotes start in the constructor and stop in :meth:`close` (or on leaving a ``with`` /
    ``async with`` block). Both block for a while (starting takes tens of milliseconds, closing
    waits for running jobs): in async code, ``await Sandbox.open(...)`` and ``await
    sandbox.aclose()`` (which ``async with`` uses) do them in a worker thread, so the event loop
    stays free.

    What a job can and cannot forge: see :class:`Call`. No job can read any byte of another
    job, in any place including its own address space (docs/design.md §6).
    """

    def __init__(
        self,
        workers: int | None = None,
        limits: Limits | None = None,
        *,
        allow_weaker: bool = False,
        isolation: Isolation = "full",
        disable_layers: Collection[Layer] = (),
    ) -> None:
        if workers is None:
            workers = max(1, len(os.sched_getaffinity(0)))
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        if isolation not in ("full", "none"):
            raise ConfigError(f"isolation must be 'full' or 'none', got {isolation!r}")
        unknown = sorted(set(disable_layers) - set(LAYERS))
        if unknown:
            raise ConfigError(f"unknown isolation layers {unknown}; known: {', '.join(LAYERS)}")
        self.limits = limits if limits is not None else Limits()
        check_limits(self.limits)
        self.workers = workers
        self._closed = False
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._job_ids = itertools.count(1)
        self._scratch_root = Path(tempfile.mkdtemp(prefix="stepstones-sandbox-"))
        pool_class = _load_pool_class()
        disabled = list(LAYERS) if isolation == "none" else sorted(set(disable_layers))
        try:
            self._pool = pool_class(
                python=_python_executable(),
                argv=bootstrap_argv(),
                workers=workers,
                disabled=disabled,
                scratch_root=str(self._scratch_root),
                readable=readable_paths(),
            )
        except (OSError, SandboxError) as exc:
            shutil.rmtree(self._scratch_root, ignore_errors=True)
            raise SandboxError(
                f"could not start the sandbox zygotes: {exc}; `stepstones doctor` shows why"
            ) from exc
        except BaseException:
            shutil.rmtree(self._scratch_root, ignore_errors=True)
            raise
        self._collector = _Collector(self._pool)
        self.capabilities = _capabilities(self._pool.capabilities(), isolation)
        if self.capabilities.missing and not allow_weaker and isolation == "full":
            self.close()
            raise IsolationUnavailableError(
                "required isolation layers are unavailable here: "
                + ", ".join(self.capabilities.missing)
                + "; notes: "
                + "; ".join(self.capabilities.notes)
                + ". Pass allow_weaker=True (--allow-weaker-sandbox on the command line) to"
                + " run without them, never for untrusted code; `stepstones doctor` shows why"
            )

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        workers: int | None = None,
        limits: Limits | None = None,
        *,
        allow_weaker: bool = False,
        isolation: Isolation = "full",
        disable_layers: Collection[Layer] = (),
    ) -> Sandbox:
        """Start a :class:`Sandbox` in a worker thread (same arguments as the constructor)."""
        start = functools.partial(
            cls,
            workers,
            limits,
            allow_weaker=allow_weaker,
            isolation=isolation,
            disable_layers=disable_layers,
        )
        return await anyio.to_thread.run_sync(start)

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread; runs to the end even if the caller is cancelled."""
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.close)

    def close(self) -> None:
        """Stop every zygote and remove the scratch directories. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if os.getpid() != self._pid:
            return  # a forked copy: the zygotes and the scratch dirs are the parent's to stop
        self._pool.close()
        self._collector.join()
        shutil.rmtree(self._scratch_root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxClosedError("this Sandbox is closed; create a new one")
        if os.getpid() != self._pid:
            # A forked copy has none of the engine's threads and shares the zygotes' sockets
            # with its parent: it would wait forever or steal the parent's results.
            raise SandboxError(
                "this Sandbox was created in another process (before a fork); create a new "
                "one in this process"
            )

    def zygote_pids(self) -> list[int]:
        """Host pids of the zygote processes (for monitoring; a dead one is replaced)."""
        self._check_open()
        pids: list[int] = self._pool.zygote_pids()
        return pids

    # -- running jobs ----------------------------------------------------------------------

    def run_batch(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Run ``jobs`` over all zygotes in parallel; one :class:`Outcome` per job, in order.

        Blocks the calling thread (not the GIL) until every job finished.
        """
        self._check_open()
        tuples = [job_tuple(job, self.limits) for job in jobs]
        raws = self._pool.run_batch(tuples)
        return [build_outcome(job, raw, self.limits) for job, raw in zip(jobs, raws, strict=True)]

    async def run(self, job: Job) -> Outcome:
        """Run one job on the next free zygote. Cancelling the awaiting task kills the job's
        process (or drops it, if it has not started).

        Jobs wait in the engine's queue, not in the event loop: a zygote starts its next job the
        moment its last one ends, however busy the caller's event loop is.
        """
        self._check_open()
        encoded = job_tuple(job, self.limits)
        job_id = next(self._job_ids)
        waiter = _Waiter(_poster())
        self._collector.expect(job_id, waiter)
        try:
            self._pool.submit(job_id, encoded)
            await waiter.event.wait()
        except BaseException:  # cancelled, or the job could not be queued
            self._collector.forget(job_id)
            self._pool.cancel_job(job_id)
            raise
        return build_outcome(job, waiter.raw, self.limits)

    async def run_many(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Async :meth:`run_batch`: runs in a worker thread, the event loop stays free."""
        self._check_open()
        return await anyio.to_thread.run_sync(self.run_batch, jobs)

    async def check_determinism(self, job: Job) -> tuple[bool, Outcome, Outcome]:
        """Run ``job`` on two zygotes with different hash seeds; say whether results agree.

        Results agree when status, stdout, and every call's result are identical (timings
        excluded). Returns ``(identical, first, second)``.
        """
        self._check_open()
        encoded = job_tuple(job, self.limits)
        raws: list[Any] = await anyio.to_thread.run_sync(self._pool.run_twins, encoded)
        first, second = (build_outcome(job, raw, self.limits) for raw in raws)
        return _same_result(first, second), first, second


def _poster() -> Callable[[Callable[[], object]], object]:
    """The running event loop's thread-safe, non-blocking "call this soon"."""
    try:
        return asyncio.get_running_loop().call_soon_threadsafe
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        post: Callable[[Callable[[], object]], object] = (
            trio.lowlevel.current_trio_token().run_sync_soon
        )
        return post
    raise SandboxError("Sandbox.run needs a running asyncio or trio event loop")


class _Waiter:
    """One awaited job: the event its task waits on, and how to set it from another thread."""

    __slots__ = ("event", "post", "raw")

    def __init__(self, post: Callable[[Callable[[], object]], object]) -> None:
        self.event = anyio.Event()
        self.post = post
        self.raw: Any = None

    def deliver(self, raw: Any) -> None:
        self.raw = raw
        with contextlib.suppress(RuntimeError):  # the caller's event loop has closed
            self.post(self.event.set)


class _Collector:
    """Hands finished jobs back to their awaiting tasks.

    One thread per :class:`Sandbox`, started on first use, takes results from the engine in
    batches (waiting without the GIL) and wakes each task on its own event loop. It never
    blocks a zygote: if it is slow to get the GIL, results just pile up for the next batch.
    """

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._lock = threading.Lock()
        self._waiters: dict[int, _Waiter] = {}
        self._thread: threading.Thread | None = None

    def expect(self, job_id: int, waiter: _Waiter) -> None:
        with self._lock:
            self._waiters[job_id] = waiter
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="stepstones-sandbox-collector", daemon=True
                )
                self._thread.start()

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._waiters.pop(job_id, None)

    def _loop(self) -> None:
        while True:
            done = self._pool.collect(1.0)
            if done is None:  # the pool is closed and every result handed out
                return
            for job_id, raw in done:
                with self._lock:
                    waiter = self._waiters.pop(job_id, None)
                if waiter is None:
                    continue
                try:
                    waiter.deliver(raw)
                except Exception:  # one caller's broken loop must not strand the others
                    log.exception("could not hand a sandbox result back to its caller")

    def join(self) -> None:
        """After the pool closed: wait for the last results to be handed out."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


def _same_result(a: Outcome, b: Outcome) -> bool:
    return (
        a.status == b.status
        and a.stdout == b.stdout
        and a.exit_code == b.exit_code
        and a.exception_type == b.exception_type
        and a.exception_message == b.exception_message
        and [(c.ran, c.ok, c.value, c.exception_type, c.exception_message) for c in a.calls]
        == [(c.ran, c.ok, c.value, c.exception_type, c.exception_message) for c in b.calls]
    )


def _python_executable() -> str:
    if not sys.executable:
        raise SandboxError("sys.executable is empty: cannot start the zygote interpreter")
    return sys.executable


def _capabilities(report: Sequence[tuple[str, bool, str]], isolation: Isolation) -> Capabilities:
    """The zygotes' layer report as :class:`Capabilities`, with the required ones missing."""
    active: list[Layer] = []
    notes: list[str] = []
    landlock_abi = 0
    by_name = {name: (ok, note) for name, ok, note in report}
    for layer in LAYERS:
        ok, note = by_name.get(layer, (False, "not probed"))
        if ok:
            active.append(layer)
        elif isolation == "full":
            notes.append(f"{layer}: {note}")
    abi_note = by_name.get("landlock_abi", (False, "0"))[1]
    if "landlock" in active and abi_note.isdigit():
        landlock_abi = int(abi_note)
    root = by_name.get("running_as_root", (False, ""))[0]
    required: list[Layer] = list(REQUIRED_LAYERS)
    required.append("non_root_uid" if root else "user_namespace")
    missing = [] if isolation == "none" else [lay for lay in required if lay not in active]
    return Capabilities(
        isolation=isolation,
        running_as_root=root,
        landlock_abi=landlock_abi,
        active=tuple(active),
        missing=tuple(missing),
        notes=tuple(notes),
    )


_shared: Sandbox | None = None
_shared_lock = threading.Lock()
_shared_atexit = False


def shared_sandbox() -> Sandbox:
    """The process-wide default :class:`Sandbox` (full isolation, default limits), started
    on first use (again in a forked child) and stopped by :func:`close_shared_sandbox` or at
    interpreter exit."""
    global _shared, _shared_atexit  # noqa: PLW0603 - one lazily created process-wide instance
    with _shared_lock:
        # A forked child gets its own: the parent's cannot serve it.
        if _shared is None or _shared._closed or _shared._pid != os.getpid():
            _shared = Sandbox()
            if not _shared_atexit:
                atexit.register(close_shared_sandbox)
                _shared_atexit = True
        return _shared


def close_shared_sandbox() -> None:
    """Stop the process-wide :func:`shared_sandbox` if one is running (its zygotes exit and
    are reaped). Idempotent; a later :func:`shared_sandbox` call starts a new one. Holders of
    the old instance get :class:`~stepstones.errors.SandboxClosedError` from it."""
    global _shared
    with _shared_lock:
        sandbox, _shared = _shared, None
    if sandbox is not None:
        sandbox.close()
