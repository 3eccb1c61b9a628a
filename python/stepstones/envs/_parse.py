"""A teacher reply → a :class:`~stepstones.records.Draft`, or a :class:`Rejection` saying why not.

Tolerant of real replies (see :mod:`._blocks`): blocks without a language tag are classified by
their content (code that defines a function, an argument list, otherwise words); several python
blocks are combined when no single one defines every required function; ``f(1, 2)`` in an input
block is read as ``1, 2``, and so is ``input1 = 1, 2`` (a numbered input name, never a keyword
argument); five inputs written one per line in a single block are split, and an untagged block
of one literal per line gives the inputs when no block is marked as inputs. A reply
that defines one function under another name (``def g(n):``) when only ``f`` is asked for has it
renamed ``f``. Top-level ``print(f(...))`` "test cases" are cut from the code, and their
arguments are the inputs when no block gives any. A reply that repeats the worked example (its
``f``, whatever surrounds it, or only its inputs) is refused: small models pass it off as their
own, and it is the same problem every time. Every
rejection reason is a sentence the teacher can act on next turn, in the paper's style
("No message found!").
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Sequence

from stepstones import _literal
from stepstones.envs._blocks import Block, blocks, prose, split_reasoning
from stepstones.envs._prompts import example_code, example_inputs
from stepstones.records import Draft, Env, Rejection

__all__ = ["defined_functions", "normalize_input", "parse_reply"]

#: Why a reply that repeats the worked example (its ``f``, or only its inputs) is refused.
COPIED_EXAMPLE = (
    "You copied the example from the instructions. Write your own problem built on the task and "
    "the snippet."
)

_CALL_WRAPPER = re.compile(r"^\s*f\s*\((.*)\)\s*$", re.DOTALL)
# "input1 = [3]", "args_2 = 'a', 1": an input written as an assignment to a numbered input
# name (the number tells it from a keyword argument, which the literal parser reads as one).
_ASSIGNED = re.compile(
    r"^\s*(?:test_?)?(?:input|inp|args?|arguments?|case)_?\d+\s*=(?!=)\s*(.*)$", re.IGNORECASE
)
# "Message: ..." / "**Hint:** ..." written as a line of prose instead of a ```message block.
_MESSAGE_LINE = re.compile(r"^[\s*_#>-]*(?:message|hint)[\s*_]*:[\s*_]*(.*)$", re.IGNORECASE)


def defined_functions(code: str) -> set[str] | None:
    """Names of the top-level functions ``code`` defines, or None if it is not valid Python."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return _function_names(tree)


def _is_args(text: str) -> bool:
    try:
        _literal.parse_args(text)
    except _literal.LiteralParseError:
        return False
    return True


def normalize_input(text: str) -> str:
    """An input block's text as an argument list: stripped, with a ``f(...)`` wrapper or an
    ``input1 = `` assignment removed when what remains is an argument list."""
    text = text.strip()
    m = _CALL_WRAPPER.match(text)
    if m is not None and _is_args(m.group(1)):
        return m.group(1).strip()
    m = _ASSIGNED.match(text)
    if m is not None and _positional(m.group(1)):
        return m.group(1).strip()
    return text


def _positional(text: str) -> bool:
    """Whether ``text`` is an argument list of positional literals only."""
    try:
        _, kwargs = _literal.parse_args(text)
    except _literal.LiteralParseError:
        return False
    return not kwargs


def _one_per_line(text: str) -> bool:
    """Whether ``text`` holds two or more lines and each one is an argument list."""
    lines = [line for line in text.split("\n") if line.strip()]
    return len(lines) > 1 and all(_is_args(normalize_input(line)) for line in lines)


def _classify(block: Block) -> str:
    if block.kind == "python" and not defined_functions(block.text):
        # A python block of "input1 = [3]" lines only: the inputs, written as assignments.
        lines = [line for line in block.text.split("\n") if line.strip()]
        if lines and all(_ASSIGNED.match(line) for line in lines) and _one_per_line(block.text):
            return "lines"
    if block.kind:
        return block.kind
    funcs = defined_functions(block.text)
    if funcs:
        return "python"
    text = block.text.strip()
    if text and _is_args(normalize_input(text)):
        return "input"
    if _one_per_line(text):
        return "lines"  # inputs one per line, read only when no block is marked as inputs
    return "message"


def _function_names(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _free_names(tree: ast.Module) -> set[str]:
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - _top_level_names(tree) - set(dir(builtins))


def _pick_code(codes: Sequence[str], required: Sequence[str]) -> str | None:
    """The last block defining every required function, with the earlier blocks that define
    names it uses (helpers, imports, constants) prepended; else all valid blocks joined."""
    need = set(required)
    trees: list[ast.Module | None] = []
    for code in codes:
        try:
            trees.append(ast.parse(code))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            trees.append(None)
    for k in range(len(codes) - 1, -1, -1):
        tree = trees[k]
        if tree is None or not need <= _function_names(tree):
            continue
        free = _free_names(tree)
        helpers = [
            codes[j].strip()
            for j in range(k)
            if (t := trees[j]) is not None and _top_level_names(t) & free
        ]
        return "\n\n".join([*helpers, codes[k].strip()]) + "\n"
    joined = "\n\n".join(c.strip() for c, t in zip(codes, trees, strict=True) if t is not None)
    funcs = defined_functions(joined)
    if joined and funcs is not None and need <= funcs:
        return joined + "\n"
    return None


def _renamed_to_f(codes: Sequence[str], required: Sequence[str]) -> str | None:
    """When only ``f`` is required and the python blocks together define exactly one top-level
    function under another name (``def g(n):``), that function renamed ``f``, with its old
    name kept as an alias so that recursive calls still work; else None."""
    if tuple(required) != ("f",):
        return None
    valid = [c.strip() for c in codes if defined_functions(c) is not None]
    joined = "\n\n".join(valid)
    try:
        tree = ast.parse(joined)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    if len(defs) != 1 or any(isinstance(n, ast.ClassDef) for n in tree.body):
        return None
    name = defs[0].name
    lines = joined.split("\n")
    line = lines[defs[0].lineno - 1]
    renamed = re.sub(rf"\bdef\s+{re.escape(name)}\s*\(", "def f(", line, count=1)
    if renamed == line:
        return None
    lines[defs[0].lineno - 1] = renamed
    return "\n".join(lines) + f"\n\n\n{name} = f\n"


def _strip_calls(code: str) -> tuple[str, list[str]]:
    """``code`` without its top-level ``print(...)`` / ``f(...)`` statements (a small teacher's
    "test cases", which the format forbids and the sandbox would refuse), and the argument lists
    of the ``f`` calls among them whose arguments are all literals."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code, []
    drop: set[int] = set()
    calls: list[str] = []
    for node in tree.body:
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        name = call.func.id if isinstance(call.func, ast.Name) else ""
        if name not in ("print", "f"):
            continue
        drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        inner = call.args[0] if name == "print" and len(call.args) == 1 else call
        if (
            isinstance(inner, ast.Call)
            and isinstance(inner.func, ast.Name)
            and inner.func.id == "f"
        ):
            text = ", ".join(ast.get_source_segment(code, a) or "" for a in inner.args)
            if inner.args and not inner.keywords and _positional(text):
                calls.append(text)
    if not drop:
        return code, []
    kept = [line for i, line in enumerate(code.split("\n"), 1) if i not in drop]
    return "\n".join(kept).rstrip() + "\n", calls


def _split_lines(texts: list[str], n_inputs: int) -> list[str]:
    """Split blocks holding one argument list per line.

    A block is split when it does not parse as one argument list but each line does, or when it
    is the only input block and has exactly ``n_inputs`` lines that each parse. With at least
    ``n_inputs`` blocks, each block is one call: one argument per line is joined into one list.
    """
    out: list[str] = []
    for text in texts:
        norm = normalize_input(text)
        lines = [normalize_input(x) for x in text.split("\n") if x.strip()]
        each = len(lines) > 1 and all(_is_args(x) for x in lines)
        if len(texts) >= n_inputs:
            joined = ", ".join(lines)
            out.append(joined if each and not _is_args(norm) and _is_args(joined) else norm)
            continue
        if each and (not _is_args(norm) or (len(texts) == 1 and len(lines) == n_inputs)):
            out.extend(lines)
        else:
            out.append(norm)
    return out


def _prose_message(body: str) -> str:
    """The message of a "Message: ..." line outside the blocks (with the paragraph it starts),
    when the reply has exactly one such line; else ""."""
    lines = prose(body).split("\n")
    starts = [i for i, line in enumerate(lines) if _MESSAGE_LINE.match(line)]
    if len(starts) != 1:
        return ""
    m = _MESSAGE_LINE.match(lines[starts[0]])
    assert m is not None
    paragraph = [m.group(1).strip()]
    for line in lines[starts[0] + 1 :]:
        if not line.strip():
            if paragraph[-1]:
                break
            continue
        paragraph.append(line.strip())
    return " ".join(p for p in paragraph if p).strip(" *_")


def _function_dump(code: str, name: str) -> str | None:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return ast.dump(node)
    return None


def _copies_example_code(code: str, required: Sequence[str]) -> bool:
    """Whether ``code`` defines ``f`` exactly as the worked example does (same syntax tree,
    whatever imports, helpers or constants surround it): the example's problem again."""
    example = example_code(required)
    if example is None:
        return False
    theirs = _function_dump(example, "f")
    return theirs is not None and _function_dump(code, "f") == theirs


def _copies_example_inputs(inputs: Sequence[str], required: Sequence[str]) -> bool:
    """Whether every input (two or more) is one of the worked example's inputs, as values."""
    shown = {_literal_key(text) for text in example_inputs(required)}
    keys = [_literal_key(text) for text in inputs]
    return len(keys) >= 2 and None not in keys and all(k in shown for k in keys)


def _literal_key(text: str) -> str | None:
    try:
        return repr(_literal.parse_args(text))
    except _literal.LiteralParseError:
        return None


def _names(required: Sequence[str]) -> str:
    return ", ".join(f"`def {name}(...)`" for name in required)


def parse_reply(
    reply: str,
    *,
    env: Env,
    required: Sequence[str] = ("f",),
    n_inputs: int = 5,
    need_message: bool = False,
    need_witness: bool = False,
    reasoning: str = "",
) -> Draft | Rejection:
    """Parse a teacher reply for ``env``; see the module docstring for what is tolerated."""
    body, think = split_reasoning(reply)
    reasoning = "\n\n".join(r for r in (reasoning.strip(), think) if r)
    found = [(_classify(b), b) for b in blocks(body)]

    def reject(reason: str, draft: Draft | None = None) -> Rejection:
        return Rejection(kind="format", reason=reason, draft=draft)

    if not found:
        return reject("No fenced code blocks found! Answer with ```python, ```input blocks.")
    codes = [b.text for k, b in found if k == "python"]
    if not codes:
        return reject(f"No python block found! Put {_names(required)} in a ```python block.")
    code = _pick_code(codes, required) or _renamed_to_f(codes, required)
    if code is None:
        if all(defined_functions(c) is None for c in codes):
            return reject("The ```python block is not valid Python (syntax error).")
        return reject(f"The ```python block must define {_names(required)} at top level.")
    code, calls = _strip_calls(code)
    if _copies_example_code(code, required):
        return reject(COPIED_EXAMPLE)
    marked = [b.text for k, b in found if k == "input"]
    inputs = _split_lines(marked or [b.text for k, b in found if k == "lines"], n_inputs)
    inputs = inputs or calls  # no input block: the calls of f the code itself made
    if not inputs:
        return reject(f"No input found! Give {n_inputs} ```input blocks.")
    for i, text in enumerate(inputs, 1):
        try:
            _literal.parse_args(text)
        except _literal.LiteralParseError as exc:
            return reject(
                f"Input {i} is not a list of plain Python literals ({exc}); write only literal "
                "arguments as inside the parentheses of a call, e.g. 'John', {'age': 20}."
            )
    if _copies_example_inputs(inputs, required):
        return reject(COPIED_EXAMPLE)
    if len(inputs) < n_inputs:
        return reject(f"Found {len(inputs)} ```input blocks, need {n_inputs}!")
    messages = [b.text.strip() for k, b in found if k == "message" and b.kind == "message"]
    message = messages[-1] if messages else _prose_message(body)
    if need_message and not message:
        return reject("No message found! Add a ```message block describing the task in words.")
    if need_message and re.search(r"\bdef\s+\w+\s*\(", message):
        return reject("The message must describe the function in words, not contain its code.")
    witness: str | None = None
    if need_witness:
        witnesses = [normalize_input(b.text) for k, b in found if k == "witness"]
        if not witnesses:
            return reject(
                "No witness found! Add a ```witness block: an input that makes test_f fail."
            )
        witness = witnesses[-1]
        if not _is_args(witness):
            return reject("The witness is not a list of plain Python literal arguments.")
    return Draft(
        env=env,
        code=code,
        inputs=tuple(inputs[:n_inputs]),
        message=message,
        witness=witness,
        reasoning=reasoning,
    )
