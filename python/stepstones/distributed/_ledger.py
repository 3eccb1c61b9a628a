"""One run-wide record of which problems are taken, so that actors never accept the same one.

On one machine every chain shares one ``seen_problems`` set, and a problem proposed again is
rejected as a duplicate at once, with feedback the teacher acts on. Actors have a set each, so
two of them could accept the same problem from different seeds. The :class:`ProblemLedger`
gives the Ray run the same guarantee: an actor that finds a problem new in its own set claims
it from the ledger before the turn measures it, and a refused claim becomes the same
"duplicate" rejection as on one machine.

The driver owns the ledger: it starts it next to itself (on the driver's node, with no CPU
reserved), seeds it with the problems already stored, releases the claims of a chain it asks
again (its actor died) or that failed (a resumed run grows it again), and kills it at the end.
Ray actors cannot call into the driver process, so the ledger is an actor of its own; it holds
only ids, and its calls are atomic (async methods that never await, on one event loop).

Why claim first rather than filter at the store: a claim costs one small Ray call per accepted
problem (milliseconds, against the seconds of a teacher turn), but the turn ends exactly as on
one machine, and no student samples or sandbox grading are spent on a duplicate. Filtering
when chains reach the driver costs no call, but would measure duplicates for nothing and then
cut them out of finished chains, whose later turns the teacher built on them. If the ledger
itself is lost, actors cannot ask it: the run stops with ClusterError (nothing half-done is
stored) and a resumed run seeds a fresh ledger from the store, so no duplicate is ever stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stepstones.distributed._ray import require_ray
from stepstones.errors import ClusterError

__all__ = ["STORED", "ChainClaims", "ProblemLedger", "ask_ledger"]

#: The owner of problems stored before this run started (they are never released).
STORED = ""


class ProblemLedger:
    """Problem ids taken in the run and the chain that took each; wrapped with ``ray.remote``
    by the driver (plain Python, so also testable without Ray).

    taken: ids of problems already stored (a resumed run); no chain can claim them.
    """

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._owner: dict[str, str] = dict.fromkeys(taken, STORED)
        self._claimed: dict[str, set[str]] = {}  # chain id -> the problems it holds

    async def claim(self, problem_id: str, chain_id: str) -> bool:
        """Take ``problem_id`` for ``chain_id``; False if any chain (the same one included:
        a problem repeated within a chain is a duplicate too) or the store holds it."""
        if problem_id in self._owner:
            return False
        self._owner[problem_id] = chain_id
        self._claimed.setdefault(chain_id, set()).add(problem_id)
        return True

    async def release(self, problem_id: str, chain_id: str) -> None:
        """Give back one problem, if ``chain_id`` holds it (it was valid but not measured)."""
        if self._owner.get(problem_id) == chain_id and chain_id != STORED:
            del self._owner[problem_id]
            self._claimed.get(chain_id, set()).discard(problem_id)

    async def release_chain(self, chain_id: str) -> int:
        """Give back every problem ``chain_id`` holds (its result will never be stored);
        returns how many."""
        held = self._claimed.pop(chain_id, set())
        for problem_id in held:
            del self._owner[problem_id]
        return len(held)


async def ask_ledger(method: Any, *args: Any) -> Any:
    """Call a method of the ledger actor and wait for the answer; a lost ledger is
    ClusterError (the run cannot tell duplicates apart without it)."""
    ray = require_ray()
    try:
        return await method.remote(*args)
    except ray.exceptions.RayError as exc:
        raise ClusterError(
            f"the run's problem ledger is gone ({type(exc).__name__}), so duplicates cannot be "
            "told apart across actors; the run stops: run the same command again to resume it"
        ) from exc


class ChainClaims:
    """:class:`~stepstones.pipeline.ProblemClaims` of one chain, answered by the ledger actor
    (``ledger``: its Ray handle)."""

    def __init__(self, ledger: Any, chain_id: str) -> None:
        self._ledger = ledger
        self._chain_id = chain_id

    async def claim(self, problem_id: str) -> bool:
        granted: bool = await ask_ledger(self._ledger.claim, problem_id, self._chain_id)
        return granted

    async def release(self, problem_id: str) -> None:
        await ask_ledger(self._ledger.release, problem_id, self._chain_id)
