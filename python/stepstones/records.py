"""The records of stepstones, in the order data flows through the pipeline.

Seed → Draft → (Rejection | Problem) → Attempt → Grade → Summary → Turn → Chain

Every record is a frozen :class:`msgspec.Struct`. Python values that travel between the teacher,
the sandbox and the grader (inputs, gold outputs, answers) are stored as *canonical literal
strings* — ``repr`` of plain Python literals, parsed back with a literal parser, never ``eval``.

Stored records are versioned: :func:`encode` writes ``{"schema": N, "type": name, "record": ...}``
and :func:`decode` reads any schema version up to :data:`SCHEMA_VERSION`, failing with
:class:`~stepstones.errors.RecordVersionError` on a newer one and
:class:`~stepstones.errors.RecordError` on anything malformed.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, TypeVar

import msgspec

from stepstones.errors import RecordError, RecordVersionError

__all__ = [
    "ENVIRONMENTS",
    "SCHEMA_VERSION",
    "Attempt",
    "Chain",
    "Draft",
    "Env",
    "Grade",
    "Message",
    "Mode",
    "Problem",
    "Record",
    "Rejection",
    "RejectionKind",
    "Seed",
    "Summary",
    "Turn",
    "Usage",
    "content_hash",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
]

#: The schema version written by this stepstones. Bump it when a field changes meaning or is
#: removed; adding a field with a default does not need a bump (older records still decode).
SCHEMA_VERSION = 1

Env = Literal["induction", "abduction", "deduction", "fuzzing"]
ENVIRONMENTS: tuple[Env, ...] = ("induction", "abduction", "deduction", "fuzzing")

#: How a chain was grown (docs/design.md §2): adaptive = seed → problem → adapt to the pass rate;
#: top_down = hard → medium variant → easy variant; single_turn = independent samples from the seed.
Mode = Literal["adaptive", "top_down", "single_turn"]

RejectionKind = Literal[
    "format",  # the reply could not be parsed (missing blocks, no `def f`, bad literal)
    "banned",  # uses a banned construct (randomness, time, I/O, threads, subprocess, network)
    "error",  # the reference code raised on an input
    "timeout",  # the reference code ran out of time or memory on an input
    "not_literal",  # an output is not representable as a plain literal
    "nondeterministic",  # two runs with different hash seeds disagree
    "witness",  # fuzzing: the witness does not satisfy pre_test_f or does not fail test_f
    "duplicate",  # same normalized code + inputs as a problem already seen
    "trivial",  # f returns the same value for every input (a stub, a constant): nothing to learn
    "llm",  # the teacher request itself failed (transport, status, malformed response)
]


def content_hash(*parts: str) -> str:
    """A short, stable id: the first 16 hex digits of sha256 over the NUL-joined parts."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class Message(msgspec.Struct, frozen=True):
    """One chat message as sent to an OpenAI-compatible server."""

    role: Literal["system", "user", "assistant"]
    content: str


class Seed(msgspec.Struct, frozen=True, kw_only=True):
    """A window of consecutive lines of real code that a teacher builds a problem on."""

    id: str
    text: str
    source: str  # file path or data set name the lines came from
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed teacher reply, not yet validated.

    ``code`` holds the reference ``f`` (and for fuzzing also ``pre_test_f`` and ``test_f``);
    ``inputs`` are Python-literal argument lists such as ``"'John', {'age': 20}"``.
    """

    env: Env
    code: str
    inputs: tuple[str, ...]
    message: str = ""
    witness: str | None = None  # fuzzing: an input that satisfies pre_test_f and fails test_f
    reasoning: str = ""  # the teacher's <think> section or reasoning_content, kept apart


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """Why a draft did not become a problem, in words the teacher can act on next turn."""

    kind: RejectionKind
    reason: str
    draft: Draft | None = None


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """A validated problem: gold outputs were computed by running ``code`` in the sandbox.

    ``pass_rate`` and ``n_attempts`` stay empty until a student was measured on it.
    ``id`` is the content hash of the environment and the normalized code plus inputs.
    """

    id: str
    env: Env
    code: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]  # canonical literal of f(*input) for each input
    message: str = ""
    witness: str | None = None
    seed_id: str | None = None
    parent_id: str | None = None
    pass_rate: float | None = None
    n_attempts: int = 0


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One student completion for a problem, with the answer extracted from it."""

    problem_id: str
    index: int
    completion: str
    answer: str | None  # None when no answer of the right kind could be extracted
    format_error: str | None = None


class Grade(msgspec.Struct, frozen=True, kw_only=True):
    """The binary reward for one answer, and why."""

    reward: float  # 1.0 or 0.0
    reason: str  # "ok", "wrong output for input 3: got 4, expected 5", "timeout", ...
    # The sandbox outcome status that decided it ("ok" when no run was needed), or "format"
    # when the answer was missing, too long or not of the right form (never sent to the sandbox).
    status: str = "ok"


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Token and time accounting for one or more LLM requests."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    latency_s: float = 0.0


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """What the teacher is shown of a student's attempts (docs/design.md §2 step 4)."""

    pass_rate: float
    n_attempts: int
    n_passed: int
    solved: tuple[str, ...] = ()  # up to 2 solved answers, truncated
    failed: tuple[str, ...] = ()  # up to 2 failed answers, truncated, with the grade's reason
    format_errors: int = 0


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    """One teacher turn: the request, the draft or rejection, and the student's measurement."""

    index: int
    instruction: str  # "seed", "harder", "easier", "sibling", "hard", "medium", "easy"
    draft: Draft | None = None
    rejection: Rejection | None = None
    problem: Problem | None = None
    attempts: tuple[Attempt, ...] = ()
    grades: tuple[Grade, ...] = ()
    summary: Summary | None = None
    teacher_usage: Usage = Usage()
    student_usage: Usage = Usage()
    # The teacher's reply text as received (reasoning kept apart in the draft), so a rejection
    # can be shown with what caused it; "" when the request failed or for older records.
    teacher_reply: str = ""
    sandbox_s: float = 0.0  # wall seconds of this turn's sandbox work (validation and grading)


class Chain(msgspec.Struct, frozen=True, kw_only=True):
    """The stepping stones of one seed: every turn, valid or not, with parent ids."""

    id: str
    seed: Seed
    env: Env
    mode: Mode
    turns: tuple[Turn, ...] = ()

    @property
    def problems(self) -> tuple[Problem, ...]:
        """The valid, measured versions of the task, in turn order."""
        return tuple(t.problem for t in self.turns if t.problem is not None)


Record = Seed | Draft | Rejection | Problem | Attempt | Grade | Summary | Turn | Chain
R = TypeVar("R", bound=msgspec.Struct)

_TYPES: dict[str, type[msgspec.Struct]] = {
    cls.__name__.lower(): cls
    for cls in (Seed, Draft, Rejection, Problem, Attempt, Grade, Summary, Turn, Chain)
}


class _Envelope(msgspec.Struct, frozen=True):
    schema: int
    type: str
    record: msgspec.Raw


_json_encoder = msgspec.json.Encoder()
_json_envelope = msgspec.json.Decoder(_Envelope)
_mp_encoder = msgspec.msgpack.Encoder()
_mp_envelope = msgspec.msgpack.Decoder(_Envelope)
_json_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_mp_decoders: dict[type[Any], msgspec.msgpack.Decoder[Any]] = {}


def _envelope(record: msgspec.Struct, raw: bytes) -> _Envelope:
    return _Envelope(SCHEMA_VERSION, type(record).__name__.lower(), msgspec.Raw(raw))


def encode_json(record: msgspec.Struct) -> bytes:
    """Encode a record as one line of versioned JSON (no trailing newline)."""
    return _json_encoder.encode(_envelope(record, _json_encoder.encode(record)))


def encode(record: msgspec.Struct) -> bytes:
    """Encode a record as versioned msgpack."""
    return _mp_encoder.encode(_envelope(record, _mp_encoder.encode(record)))


def _check(env: _Envelope, expected: type[R]) -> None:
    if env.schema > SCHEMA_VERSION:
        raise RecordVersionError(
            f"record was written with schema {env.schema}, this stepstones reads up to "
            f"{SCHEMA_VERSION}: upgrade stepstones to read it"
        )
    if env.type != expected.__name__.lower():
        raise RecordError(f"expected a {expected.__name__.lower()} record, got {env.type!r}")


def decode_json(data: bytes | str, type: type[R]) -> R:
    """Decode one versioned JSON record of the given type."""
    try:
        env = _json_envelope.decode(data)
        _check(env, type)
        dec = _json_decoders.get(type)
        if dec is None:
            dec = _json_decoders[type] = msgspec.json.Decoder(type)
        return dec.decode(env.record)  # type: ignore[no-any-return]
    except msgspec.DecodeError as exc:
        raise RecordError(f"malformed {type.__name__} record: {exc}") from exc


def decode(data: bytes, type: type[R]) -> R:
    """Decode one versioned msgpack record of the given type."""
    try:
        env = _mp_envelope.decode(data)
        _check(env, type)
        dec = _mp_decoders.get(type)
        if dec is None:
            dec = _mp_decoders[type] = msgspec.msgpack.Decoder(type)
        return dec.decode(env.record)  # type: ignore[no-any-return]
    except msgspec.DecodeError as exc:
        raise RecordError(f"malformed {type.__name__} record: {exc}") from exc
