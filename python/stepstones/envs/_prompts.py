"""Prompt text shared by the four environments: format rules, seeds, summaries, progressions.

Each environment supplies its own *task description* (what the student will see and answer);
this module wraps it in the common teacher format and renders the previous problem, the student
summary and the progression instruction for mutate and top-down prompts (docs/design.md §2).
"""

from __future__ import annotations

from collections.abc import Sequence

from stepstones.errors import ConfigError
from stepstones.records import Message, Problem, Seed, Summary

__all__ = [
    "DEFAULT_TARGET",
    "PROGRESSIONS",
    "STAGES",
    "example_code",
    "example_exchange",
    "example_inputs",
    "fence",
    "followup_messages",
    "io_pairs",
    "progression",
    "render_reply",
    "render_results",
    "render_summary",
    "teacher_format",
    "teacher_messages",
]

SYSTEM = (
    "You are an expert Python programmer who writes programming problems for training another "
    "model. You follow the answer format exactly."
)

#: The pass-rate band the adaptive instructions aim at unless the caller gives another.
DEFAULT_TARGET = (0.35, 0.65)

_PROGRESSION_TEXT = {
    "harder": (
        "The student solved this problem too often. Write a HARDER variant: add complexity "
        "(more steps, edge cases, a subtler rule, combined ideas) so that the student's pass rate "
        "lands between {low:g} and {high:g}."
    ),
    "easier": (
        "The student never or almost never solved this problem. Write an EASIER variant: "
        "simplify the logic, remove steps or edge cases, make the rule more direct, so that the "
        "student's pass rate lands between {low:g} and {high:g}."
    ),
    "sibling": (
        "The difficulty is about right. Write a SIBLING problem of about the same difficulty: "
        "the same core idea with a different twist, keeping the student's pass rate between "
        "{low:g} and {high:g}."
    ),
}


def progression(instruction: str, target: tuple[float, float] = DEFAULT_TARGET) -> str:
    """The instruction for an adaptive step aiming at the pass-rate band ``target``."""
    low, high = target
    if not 0.0 <= low <= high <= 1.0:
        raise ConfigError(f"target must be a band 0 <= low <= high <= 1, got {target!r}")
    return _PROGRESSION_TEXT[instruction].format(low=low, high=high)


#: What the teacher is told for each instruction of an adaptive chain (default target band).
PROGRESSIONS = {name: progression(name) for name in _PROGRESSION_TEXT}

#: What the teacher is told for each stage of a top-down chain.
STAGES = {
    "hard": (
        "Write a HARD problem: a strong model should solve it only about 10% of the time. "
        "Combine several non-trivial steps built on the core logic of the snippet."
    ),
    "medium": (
        "Write a MEDIUM variant of the hard problem above: keep its core idea but remove some of "
        "its difficulty, so that a strong model solves it about half of the time."
    ),
    "easy": (
        "Write an EASY variant of the problem above: keep its core idea but make it direct, so "
        "that a strong model solves it about 85% of the time."
    ),
}

#: Said in every later turn: a small teacher otherwise answers its own earlier reply again.
NEW_PROBLEM = (
    "Write a NEW problem: its code and its inputs must differ from your previous reply above, "
    "which is already taken."
)

STANDALONE = (
    "The new problem must be standalone: the student will see only the new problem, never the "
    "previous one or this conversation."
)


def fence(kind: str, text: str) -> str:
    """A fenced block; uses a longer fence when the text itself contains ```."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{kind}\n{text.rstrip()}\n{ticks}"


#: The worked example, shown as an earlier exchange (a tiny snippet asked, a complete reply
#: given) before the real request: one per set of required functions. It is never the answer.
_EXAMPLE_SEED = {
    ("f",): (
        "def shout_long(words, n):\n"
        "    out = []\n"
        "    for w in words:\n"
        "        if len(w) > n:\n"
        "            out.append(w.upper())\n"
        "    return out\n"
    ),
    ("f", "pre_test_f", "test_f"): "def largest(nums):\n    return max(nums)\n",
}
_EXAMPLE_CODE = {
    ("f",): (
        "def f(words, n):\n    return [w.upper() if len(w) > n else w[::-1] for w in words]\n"
    ),
    ("f", "pre_test_f", "test_f"): (
        "def f(nums):\n"
        "    best = 0\n"
        "    for x in nums:\n"
        "        best = max(best, x)\n"
        "    return best\n\n"
        "def pre_test_f(nums):\n"
        "    return isinstance(nums, list) and len(nums) > 0 and all(type(x) is int for x in nums)"
        "\n\n"
        "def test_f(nums):\n"
        "    return f(nums) == max(nums)\n"
    ),
}
_EXAMPLE_INPUTS = {
    ("f",): (
        "['apple', 'fig', 'kiwi'], 3",
        "['a', 'bb', 'ccc'], 1",
        "[], 2",
        "['hello', 'world'], 5",
        "['x', 'yy', 'zzz', 'wwww'], 2",
    ),
    ("f", "pre_test_f", "test_f"): ("[3, 1, 2]", "[5]", "[0, 7, -2]", "[10, 20, 30]", "[-1, 4]"),
}
_EXAMPLE_MESSAGE = (
    "Words longer than the number are written in capital letters; the others are reversed."
)
_EXAMPLE_WITNESS = "[-3, -1, -2]"


def example_code(functions: Sequence[str]) -> str | None:
    """The code of the worked example shown for ``functions`` (None: no example for them)."""
    return _EXAMPLE_CODE.get(tuple(functions))


def example_inputs(functions: Sequence[str]) -> tuple[str, ...]:
    """The input blocks of the worked example shown for ``functions`` (empty: no example)."""
    return _EXAMPLE_INPUTS.get(tuple(functions), ())


def example_exchange(
    functions: Sequence[str], n_inputs: int, *, message: bool, witness: bool
) -> list[Message]:
    """A worked example as an earlier exchange: a tiny snippet, and a complete reply built on
    it in exactly the required format (no exchange for functions without an example)."""
    key = tuple(functions)
    if key not in _EXAMPLE_CODE:
        return []
    inputs = _EXAMPLE_INPUTS[key]
    parts = [fence("python", _EXAMPLE_CODE[key])]
    parts += [
        fence(f"input {i}", text) for i, text in enumerate(inputs[: min(n_inputs, len(inputs))], 1)
    ]
    if n_inputs > len(inputs):
        parts.append(f"(... {n_inputs - len(inputs)} more input blocks)")
    if message:
        parts.append(fence("message", _EXAMPLE_MESSAGE))
    if witness:
        parts.append(fence("witness", _EXAMPLE_WITNESS))
    ask = (
        "Example task. Build on the core logic of this code snippet:\n\n"
        f"{fence('', _EXAMPLE_SEED[key])}\n\n"
        f"Reply with {_blocks_needed(functions, n_inputs, message=message, witness=witness)}."
    )
    return [Message("user", ask), Message("assistant", "\n".join(parts))]


def _blocks_needed(functions: Sequence[str], n_inputs: int, *, message: bool, witness: bool) -> str:
    names = ", ".join(functions)
    needed = [f"one python block (defining {names})", f"{n_inputs} input blocks"]
    if message:
        needed.append("one message block")
    if witness:
        needed.append("one witness block")
    return ", ".join(needed[:-1]) + " and " + needed[-1]


def teacher_format(functions: Sequence[str], n_inputs: int, *, message: bool, witness: bool) -> str:
    """The answer format every teacher reply must follow, ending with a one-line reminder that
    names every block in order (the example reply shows them; small models copy a layout far
    more reliably than they follow a rule, and refuse when the rules read like a contract)."""
    names = ", ".join(f"`{name}`" for name in functions)
    parts = [
        f"1. One ```python block defining {names}. The code is pure and deterministic: no "
        "randomness, time, files, network, printing or threads (standard-library imports are "
        "fine). Do not call the functions in it.",
        f"2. {n_inputs} ```input blocks, numbered 1 to {n_inputs} like in the example reply. Each "
        "holds the arguments of ONE call of f, written exactly as inside the parentheses of the "
        "call, using only plain Python literals (numbers, strings, None, True/False, and lists, "
        "tuples, dicts, sets of those): no variable names, no `=`, no `f(...)`. The inputs are "
        "different from each other and from the example's. Do NOT write the outputs: they are "
        "computed by running f.",
    ]
    if message:
        parts.append(
            "3. One ```message block: a hint in words that helps someone who sees only the "
            "inputs and outputs to figure out what f does. No code in it."
        )
    if witness:
        parts.append(
            f"{len(parts) + 1}. One ```witness block: the arguments of one call, in the same form "
            "as the inputs, for which pre_test_f returns True and test_f fails (returns False or "
            "raises). It proves the bug exists and is never shown to the student."
        )
    needed = _blocks_needed(functions, n_inputs, message=message, witness=witness)
    parts.append(
        "Now write your own new problem for the task above, in the same format as the example "
        f"reply: {needed}, in this order."
    )
    return "Answer with fenced blocks only:\n\n" + "\n\n".join(parts)


def render_reply(problem: Problem) -> str:
    """A measured problem written back as the teacher reply that made it, in the exact format."""
    parts = [fence("python", problem.code)]
    parts += [fence(f"input {i}", text) for i, text in enumerate(problem.inputs, 1)]
    if problem.message:
        parts.append(fence("message", problem.message))
    if problem.witness is not None:
        parts.append(fence("witness", problem.witness))
    return "\n".join(parts)


def io_pairs(problem: Problem, indices: Sequence[int] | None = None) -> str:
    """``f(<input>) == <output>`` lines for the chosen inputs (all by default)."""
    chosen = range(len(problem.inputs)) if indices is None else indices
    return "\n".join(f"f({problem.inputs[i]}) == {problem.outputs[i]}" for i in chosen)


_RESULT_CHARS = 200


def _cut(text: str) -> str:
    return text if len(text) <= _RESULT_CHARS else text[:_RESULT_CHARS] + " ... (cut)"


def render_results(problem: Problem) -> str:
    """What running the previous problem gave, for the teacher's next turn: the gold output of
    each input in words (no fenced block, so a small model does not copy it as its reply)."""
    lines = [
        f"- input {i}: f returned {_cut(output)}" for i, output in enumerate(problem.outputs, 1)
    ]
    return "Your problem above was checked by running f. On your inputs:\n" + "\n".join(lines)


def render_summary(summary: Summary) -> str:
    """The student summary in words (docs/design.md §2 step 4)."""
    lines = [
        f"The student attempted it {summary.n_attempts} times and passed {summary.n_passed} "
        f"(pass rate {summary.pass_rate:.2f})."
    ]
    if summary.format_errors:
        lines.append(f"{summary.format_errors} attempts had no answer in the required format.")
    for i, text in enumerate(summary.solved, 1):
        lines.append(f"Solved attempt {i}:\n{fence('', text)}")
    for i, text in enumerate(summary.failed, 1):
        lines.append(f"Failed attempt {i}:\n{fence('', text)}")
    return "\n\n".join(lines)


def _feedback(feedback: str | None) -> str:
    if not feedback:
        return ""
    note = feedback.strip()
    if not note.startswith("Your previous reply was rejected"):
        note = f"Your previous reply was rejected: {note}"
    return f"\n\n{note}\nFix this and answer again in the required format."


def followup_messages(
    task: str,
    previous: Problem,
    body: str,
    format_text: str,
    *,
    feedback: str | None,
    example: Sequence[Message] = (),
) -> list[Message]:
    """A later turn as a conversation: the system message, the worked ``example``, the task,
    the ``previous`` problem as the teacher's own earlier reply (in the exact format, which keeps
    a small model in it), then the request: ``body`` (results, instruction), the format, any
    feedback — always the last message."""
    return [
        Message("system", SYSTEM),
        *example,
        Message("user", f"{task}\n\nWrite a problem in the required format."),
        Message("assistant", render_reply(previous)),
        Message("user", f"{body}\n\n{NEW_PROBLEM}\n\n{format_text}{_feedback(feedback)}"),
    ]


def teacher_messages(
    task: str,
    body: str,
    format_text: str,
    feedback: str | None,
    example: Sequence[Message] = (),
) -> list[Message]:
    """A system message, the worked ``example`` exchange (if any), and the request: the task, the
    body, the format, any feedback — always the last message."""
    user = f"{task}\n\n{body}\n\n{format_text}{_feedback(feedback)}"
    return [Message("system", SYSTEM), *example, Message("user", user)]


def seed_body(seed: Seed) -> str:
    """The seed snippet, with the instruction to build on its core logic."""
    return (
        "Build on the core logic of this code snippet. It is only inspiration: take one idea "
        "from it and write a small self-contained function f on plain values (numbers, strings, "
        "lists, dicts), using nothing from outside f (no files, classes or modules of the "
        "snippet). Any snippet has some logic you can use this way.\n\n" + fence("", seed.text)
    )
