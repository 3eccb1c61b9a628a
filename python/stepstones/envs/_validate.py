"""Draft → Problem: static checks, then a run of the reference code (docs/design.md §2 step 2).

In order, each failure a :class:`~stepstones.records.Rejection` the teacher can act on:
syntax and required functions, banned constructs, distinct inputs, duplicates, then one call job
per zygote on two zygotes with different hash seeds (errors, timeouts, non-literal or oversized
outputs, disagreement between the two runs, the same output for every input outside fuzzing),
one run with the inputs reversed and repeated in one
process (``f`` must not keep state between calls, since graders batch calls), then the
environment's own check (the fuzzing witness). Gold outputs come only from these runs.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

from stepstones.envs._dedup import Deduplicator, normalize_inputs, problem_id
from stepstones.envs._parse import defined_functions
from stepstones.records import Draft, Problem, Rejection, RejectionKind
from stepstones.sandbox._types import Call, CallResult, Outcome

if TYPE_CHECKING:
    from stepstones.envs._core import BaseEnvironment
    from stepstones.sandbox import Sandbox

__all__ = ["call_failure", "validate"]


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_failure(
    outcome: Outcome,
    inputs: tuple[str, ...],
    max_output_chars: int,
    banned_modules: frozenset[str],
) -> tuple[RejectionKind, str] | None:
    """Why running the reference ``f`` on ``inputs`` does not give usable gold outputs, or None.
    ``banned_modules`` (the environment's) are never suggested as a fix."""
    for i, (text, call) in enumerate(zip(inputs, _padded(outcome, len(inputs)), strict=True), 1):
        where = f"on input {i} ({_short(text, 80)})"
        if not call.ran:
            if outcome.status in ("timeout", "memory_limit"):
                what = "ran out of time" if outcome.status == "timeout" else "ran out of memory"
                return "timeout", f"f {what} {where}; keep f fast on every input."
            return "error", f"f crashed {where}: {outcome.status} {_short(outcome.detail)}".strip()
        if call.exception_type is not None:
            if call.exception_type in ("TimeoutError", "MemoryError", "RecursionError"):
                return "timeout", (
                    f"f raised {call.exception_type} {where}; keep f fast and shallow."
                )
            msg = _short(call.exception_message or "")
            hint = _import_hint(call.exception_type, call.exception_message or "", banned_modules)
            return "error", f"f raised {call.exception_type}: {msg} {where}.{hint}"
        if call.not_literal or call.value is None:
            return "not_literal", (
                f"f returned a value that is not a plain literal {where}; return only numbers, "
                "strings, booleans, None and lists/tuples/dicts/sets of those."
            )
        if len(call.value) > max_output_chars:
            return "not_literal", (
                f"f returned {len(call.value)} characters of output {where}; keep every output "
                f"under {max_output_chars} characters."
            )
    if not outcome.ok:
        return "error", f"running f failed: {outcome.status} {_short(outcome.detail)}".strip()
    return None


#: Standard-library modules whose names a teacher most often uses without importing them.
_HINT_MODULES = (
    "math",
    "itertools",
    "functools",
    "collections",
    "string",
    "re",
    "heapq",
    "bisect",
    "operator",
    "statistics",
    "fractions",
    "decimal",
)
_UNDEFINED = re.compile(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined")


@cache
def _home_of(name: str) -> str | None:
    """The first of :data:`_HINT_MODULES` that exports ``name`` (in its ``__all__`` when it has
    one; never a module it merely imported, such as ``fractions.sys``)."""
    if name.startswith("_"):
        return None
    for module_name in _HINT_MODULES:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        if exported is not None and name not in exported:
            continue
        value = getattr(module, name, None)
        if value is not None and not inspect.ismodule(value):
            return module_name
    return None


def _import_hint(exception_type: str, message: str, banned_modules: frozenset[str]) -> str:
    """A fix for an undefined name the teacher forgot to import, e.g. ``prod`` or ``Counter``.

    The code runs alone, so a standard-library name needs its import at the top of the code;
    a small model reads "name 'prod' is not defined" and repeats the same code, but follows
    "add ``from math import prod``". A banned module is named as such (the import would only be
    rejected next turn). Empty for other errors.
    """
    if exception_type != "NameError":
        return ""
    match = _UNDEFINED.search(message)
    if match is None:
        return ""
    name = match.group(1)
    module = name if name in _HINT_MODULES else _home_of(name)
    for banned in (name, module):
        if banned in banned_modules:
            return (
                f" The module {banned} is not allowed (f must be pure and deterministic): "
                "do without it."
            )
    if module == name:
        return f" Add `import {name}` at the top of the code."
    if module is None:
        return f" Define {name} in the code, or import it."
    return f" Add `from {module} import {name}` at the top of the code."


def _padded(outcome: Outcome, n: int) -> list[CallResult]:
    calls = list(outcome.calls[:n])
    return calls + [CallResult(ran=False)] * (n - len(calls))


def _static(env: BaseEnvironment, draft: Draft) -> Rejection | None:
    if draft.env != env.name:
        return Rejection(
            kind="format", reason=f"draft is for {draft.env!r}, not {env.name!r}", draft=draft
        )
    funcs = defined_functions(draft.code)
    if funcs is None:
        return Rejection(kind="format", reason="The code is not valid Python.", draft=draft)
    missing = [name for name in env.functions if name not in funcs]
    if missing:
        names = ", ".join(f"`def {n}(...)`" for n in missing)
        return Rejection(kind="format", reason=f"The code must define {names}.", draft=draft)
    banned = env.banned.check(ast.parse(draft.code))
    if banned is not None:
        return Rejection(kind="banned", reason=f"The code {banned}.", draft=draft)
    if len(draft.inputs) < env.n_inputs:
        return Rejection(
            kind="format",
            reason=f"Found {len(draft.inputs)} inputs, need {env.n_inputs}!",
            draft=draft,
        )
    canon = normalize_inputs(draft.inputs)
    for j, c in enumerate(canon):
        if c in canon[:j]:
            return Rejection(
                kind="format",
                reason=f"Input {j + 1} repeats input {canon.index(c) + 1}; inputs must differ.",
                draft=draft,
            )
    return None


def _constant_outputs(
    env: BaseEnvironment, draft: Draft, calls: Sequence[CallResult]
) -> Rejection | None:
    """Reject an ``f`` that returns one value for every input (see ``constant_outputs_allowed``)."""
    values = {c.value for c in calls}
    if env.constant_outputs_allowed or len(calls) < 2 or len(values) != 1:
        return None
    return Rejection(
        kind="trivial",
        reason=(
            f"f returns {_short(calls[0].value or '', 60)} for every input; write an f whose "
            "output depends on its input (a stub or a constant teaches nothing)."
        ),
        draft=draft,
    )


async def _order_dependence(
    env: BaseEnvironment,
    draft: Draft,
    sandbox: Sandbox,
    inputs: tuple[str, ...],
    first: Outcome,
) -> Rejection | None:
    """Reject an ``f`` that keeps state between calls: graders batch many calls in one child,
    so every call must give the same result whatever ran before it in that process."""
    order = (*reversed(inputs), *inputs)
    outcome = await sandbox.run(
        Call(source=draft.code, function="f", args=order, limits=env.limits)
    )
    gold = {text: call.value for text, call in zip(inputs, first.calls, strict=True)}
    calls = _padded(outcome, len(order))
    for text, call in zip(order, calls, strict=True):
        if not call.ran or call.value != gold[text]:
            got = call.value if call.ran else outcome.status
            return Rejection(
                kind="nondeterministic",
                reason=(
                    f"f keeps state between calls: on input {_short(text, 60)} it returned "
                    f"{_short(str(got), 60)} after other calls instead of "
                    f"{_short(str(gold[text]), 60)}; f must not use or change global state."
                ),
                draft=draft,
            )
    return None


async def validate(
    env: BaseEnvironment,
    draft: Draft,
    sandbox: Sandbox,
    *,
    seed_id: str | None = None,
    parent_id: str | None = None,
    dedup: Deduplicator | None = None,
) -> Problem | Rejection:
    """Validate ``draft`` for ``env``; see the module docstring for the order of checks."""
    rejection = _static(env, draft)
    if rejection is not None:
        return rejection
    inputs = draft.inputs[: env.n_inputs]
    pid = problem_id(env.name, draft.code, inputs, draft.witness)
    if dedup is not None and pid in dedup:
        return Rejection(
            kind="duplicate",
            reason="This problem (same code and inputs) was already generated; write a new one.",
            draft=draft,
        )
    job = Call(source=draft.code, function="f", args=inputs, limits=env.limits)
    _, first, second = await sandbox.check_determinism(job)
    for outcome in (first, second):
        failure = call_failure(outcome, inputs, env.max_output_chars, env.banned.modules)
        if failure is not None:
            return Rejection(kind=failure[0], reason=failure[1], draft=draft)
    for i, (a, b) in enumerate(zip(first.calls, second.calls, strict=True), 1):
        if a.value != b.value:
            return Rejection(
                kind="nondeterministic",
                reason=(
                    f"f is not deterministic: two runs on input {i} returned "
                    f"{_short(a.value or '', 60)} and {_short(b.value or '', 60)} (do not depend "
                    "on set/dict iteration order of strings, hash(), id() or randomness)."
                ),
                draft=draft,
            )
    trivial = _constant_outputs(env, draft, first.calls)
    if trivial is not None:
        return trivial
    stateful = await _order_dependence(env, draft, sandbox, inputs, first)
    if stateful is not None:
        return stateful
    problem = Problem(
        id=pid,
        env=env.name,
        code=draft.code,
        inputs=inputs,
        outputs=tuple(c.value or "" for c in first.calls),
        message=draft.message,
        witness=draft.witness,
        seed_id=seed_id,
        parent_id=parent_id,
    )
    extra = await env.check_problem(problem, sandbox)
    if extra is not None:
        return Rejection(kind=extra[0], reason=extra[1], draft=draft)
    if dedup is not None and not dedup.add(problem):
        return Rejection(
            kind="duplicate",
            reason="This problem (same code and inputs) was already generated; write a new one.",
            draft=draft,
        )
    return problem
