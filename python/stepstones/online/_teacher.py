"""The online teacher: the paper's progression, driven by the live policy instead of a student.

A loop beside the trainer (docs/design.md §9). Each pass it reads the ledger, picks the
problems whose windowed pass rate has left the band after at least ``window`` rollouts (above
``harder_above`` → ask for a harder variant; at or below ``easier_at_or_below``, i.e. never
solved → an easier one), and for each runs one ordinary generation turn
(:func:`stepstones.pipeline._turn.run_turn`): the mutate prompt carries the summary of the
*policy's* answers from the ledger; the draft is validated in the sandbox, measured by the
configured student, and kept in the live pool with its lineage.

It runs in its own process with its own sandbox and its own limits (``concurrency`` tries in
flight, ``sandbox_slots``), so reward serving never waits on it. Each (problem, instruction)
gets at most one viable stone and at most ``max_tries`` rejected drafts (failed requests do not
count: a teacher that is down is retried at the next pass, not given up on). A stone the
student measured outside the keep-filter (``Config.is_viable``) is kept in the pool but never
drawn, and counts as a miss: the teacher is asked again.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import anyio
import msgspec

from stepstones import envs
from stepstones.envs import BaseEnvironment, Environment
from stepstones.errors import ConfigError
from stepstones.llm import ChatBackend
from stepstones.online._pool import Instruction, LivePool, Stone, Try
from stepstones.pipeline._config import Config
from stepstones.pipeline._summary import build_summary, feedback
from stepstones.pipeline._turn import TurnContext, run_turn
from stepstones.records import Attempt, Grade, Rejection, Summary
from stepstones.sandbox import Sandbox
from stepstones.serve._ledger_view import LedgerView, LiveStats, ledger_dir

__all__ = ["OnlineSettings", "OnlineTeacher", "due", "live_summary"]

log = logging.getLogger("stepstones.online")

_INSTRUCTION: dict[str, Instruction] = {"too_easy": "harder", "too_hard": "easier"}


class OnlineSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the online teacher runs.

    window: rollouts a problem needs in the ledger before its pass rate is acted on (and the
        window of that pass rate).
    concurrency: teacher turns in flight (each is one teacher request, a validation and one
        student request with n = ``Config.samples``).
    max_tries: rejected drafts per (problem, instruction) before the teacher gives up on it.
    poll_interval_s: seconds between passes over the ledger when nothing finished sooner.
    max_stones: stop after adding this many stones in this run (None: run until stopped).
    """

    window: int = 32
    concurrency: int = 2
    max_tries: int = 3
    poll_interval_s: float = 2.0
    max_stones: int | None = None

    def __post_init__(self) -> None:
        for name in ("window", "concurrency", "max_tries"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.poll_interval_s > 0:
            raise ConfigError(f"poll_interval_s must be > 0 seconds, got {self.poll_interval_s}")
        if self.max_stones is not None and self.max_stones < 1:
            raise ConfigError(f"max_stones must be >= 1, got {self.max_stones}")


def live_summary(stats: LiveStats, config: Config) -> Summary:
    """The student summary of docs/design.md §2 step 4, from the live policy's results: the windowed
    pass rate and counts, and the ledger's passing and failing answers as the examples."""
    attempts: list[Attempt] = []
    grades: list[Grade] = []
    for text in stats.passing:
        attempts.append(
            Attempt(problem_id=stats.id, index=len(attempts), completion=text, answer=text)
        )
        grades.append(Grade(reward=1.0, reason="ok"))
    for answer, reason in stats.failing:
        attempts.append(
            Attempt(
                problem_id=stats.id, index=len(attempts), completion=answer or "", answer=answer
            )
        )
        grades.append(Grade(reward=0.0, reason=reason))
    examples = build_summary(attempts, grades, config)
    return msgspec.structs.replace(
        examples,
        pass_rate=stats.pass_rate or 0.0,
        n_attempts=stats.n,
        n_passed=stats.n_passed,
        format_errors=stats.format_errors,
    )


def due(
    problems: Iterable[LiveStats],
    pool: LivePool,
    max_tries: int,
    in_flight: Collection[tuple[str, Instruction]] = (),
) -> list[tuple[LiveStats, Instruction]]:
    """Which problems the teacher should work on now, most-rolled-out first: those whose band
    is too_easy (-> harder) or too_hard (-> easier), without a viable stone for that direction
    yet, with fewer than ``max_tries`` misses (rejected drafts, non-viable stones), not in flight.
    """
    made = {(s.parent_id, s.instruction) for s in pool if s.viable}
    # A stone the student measured outside the keep-filter is a miss like a rejection.
    misses = Counter((t.parent_id, t.instruction) for t in pool.tries if t.outcome == "rejected")
    misses.update((s.parent_id, s.instruction) for s in pool if not s.viable)
    out = []
    for stats in sorted(problems, key=lambda s: (-s.total, s.id)):
        instruction = _INSTRUCTION.get(stats.band)
        if instruction is None:
            continue
        key = (stats.id, instruction)
        if key in made or key in in_flight or misses[key] >= max_tries:
            continue
        out.append((stats, instruction))
    return out


@dataclass(eq=False)
class OnlineTeacher:
    """One online teacher over a run directory's ledger and live pool."""

    run_dir: str
    pool: LivePool
    teacher: ChatBackend
    student: ChatBackend
    sandbox: Sandbox
    config: Config
    settings: OnlineSettings = field(default_factory=OnlineSettings)
    on_try: Callable[[Try, Stone | None], None] | None = None
    added: int = 0
    _in_flight: set[tuple[str, Instruction]] = field(default_factory=set)
    _contexts: dict[str, TurnContext] = field(default_factory=dict)
    _slots: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))

    def __post_init__(self) -> None:
        self.view = LedgerView(
            ledger_dir(self.run_dir),
            window=self.settings.window,
            examples=self.config.summary_examples,
            harder_above=self.config.harder_above,
            easier_at_or_below=self.config.easier_at_or_below,
        )
        self._seen: set[str] = {s.id for s in self.pool}

    def _context(self, env_name: str) -> TurnContext:
        ctx = self._contexts.get(env_name)
        if ctx is None:
            env: BaseEnvironment | Environment = envs.get(env_name)
            ctx = self._contexts[env_name] = TurnContext(
                env=env,
                teacher=self.teacher,
                student=self.student,
                sandbox=self.sandbox,
                config=self.config,
                sandbox_slots=self._slots,
                seen_problems=self._seen,
            )
        return ctx

    def due(self) -> list[tuple[LiveStats, Instruction]]:
        """Problems out of band with work left on them, most-rolled-out first."""
        return due(self.view.all(), self.pool, self.settings.max_tries, self._in_flight)

    def _done(self) -> bool:
        cap = self.settings.max_stones
        return cap is not None and self.added >= cap

    async def run(self) -> None:
        """Pass over the ledger until cancelled (or ``max_stones`` were added)."""
        wake = anyio.Event()

        async def one(stats: LiveStats, instruction: Instruction) -> None:
            try:
                await self.try_one(stats, instruction)
            finally:
                self._in_flight.discard((stats.id, instruction))
                wake.set()

        async with anyio.create_task_group() as tg:
            while not self._done() or self._in_flight:
                if not self._done():
                    await anyio.to_thread.run_sync(self.view.refresh)
                    for stats, instruction in self.due():
                        if len(self._in_flight) >= self.settings.concurrency:
                            break
                        full = self.view.stats(stats.id)
                        if full is None or full.problem is None:
                            continue
                        self._in_flight.add((stats.id, instruction))
                        tg.start_soon(one, full, instruction)
                with anyio.move_on_after(self.settings.poll_interval_s):
                    await wake.wait()
                wake = anyio.Event()

    async def try_one(self, stats: LiveStats, instruction: Instruction) -> Stone | None:
        """One teacher turn for ``stats.problem``; records the try (and stone) in the pool."""
        parent = stats.problem
        if parent is None:
            raise ConfigError(f"the ledger holds no problem record for {stats.id!r}")
        ctx = self._context(parent.env)
        earlier = [
            t for t in self.pool.tries if (t.parent_id, t.instruction) == (parent.id, instruction)
        ]
        last = earlier[-1] if earlier else None
        note = None
        if last is not None and last.outcome == "rejected":
            note = feedback(Rejection(kind=last.rejection_kind or "format", reason=last.reason))  # type: ignore[arg-type]
        messages = ctx.env.mutate_prompt(
            parent,
            live_summary(stats, self.config),
            instruction,
            feedback=note,
            target=(self.config.target_low, self.config.target_high),
        )
        turn = await run_turn(
            ctx, len(earlier), instruction, messages, seed_id=parent.seed_id, parent_id=parent.id
        )
        stone = None
        now = time.time()
        if turn.problem is not None and turn.summary is not None:
            above = self.pool.stones.get(parent.id)
            stone = Stone(
                id=turn.problem.id,
                problem=turn.problem,
                parent_id=parent.id,
                instruction=instruction,
                root_id=above.root_id if above is not None else parent.id,
                chain=(*(above.chain if above is not None else ()), parent.id),
                parent_pass_rate=stats.pass_rate or 0.0,
                parent_rollouts=stats.n,
                viable=self.config.is_viable(turn.problem.pass_rate),
                t=now,
            )
            attempt = Try(
                parent_id=parent.id,
                instruction=instruction,
                outcome="stone",
                stone_id=stone.id,
                t=now,
            )
        else:
            rejection = turn.rejection
            kind = rejection.kind if rejection is not None else "llm"
            attempt = Try(
                parent_id=parent.id,
                instruction=instruction,
                outcome="llm" if kind == "llm" else "rejected",
                reason=rejection.reason if rejection is not None else "no problem",
                rejection_kind=kind,
                t=now,
            )
        await anyio.to_thread.run_sync(self.pool.add, stone, attempt)
        if stone is not None:
            self.added += 1
        if self.on_try is not None:
            self.on_try(attempt, stone)
        return stone
