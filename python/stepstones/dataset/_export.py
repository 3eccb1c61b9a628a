"""Exports for the trainers: OpenRLHF JSONL, verl Parquet, TRL JSONL.

Every row carries the student prompt as chat messages and a *label*: the versioned JSON of the
:class:`~stepstones.records.Problem` (``records.encode_json``), which holds everything a grader
needs (code, inputs, gold outputs, environment). The reward server and the reward functions
read the label back; nothing else has to travel with the prompt.

Field names follow the trainers' code (docs/design.md §7): OpenRLHF reads
``--data.input_key prompt``, ``--data.label_key label`` and the ``datasource`` column; verl
reads ``data_source``, ``prompt``, ``ability``, ``reward_model.ground_truth`` and
``extra_info``; TRL passes every column other than ``prompt`` to the reward callables as
keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import msgspec

from stepstones import records
from stepstones.errors import ExportError
from stepstones.records import Message, Problem

__all__ = [
    "CONTAINERS",
    "FORMATS",
    "Format",
    "Item",
    "PromptFn",
    "container_of",
    "datasource",
    "label_of",
    "openrlhf_row",
    "rows",
    "trl_row",
    "verl_row",
    "write",
]

Format = Literal["openrlhf", "verl", "trl"]
FORMATS: tuple[Format, ...] = ("openrlhf", "verl", "trl")

#: A problem and the difficulty bin it was exported under (None when not binned).
Item = tuple[str | None, Problem]
#: Renders the student prompt of a problem; the default asks the problem's environment.
PromptFn = Callable[[Problem], Sequence[Message]]

_json = msgspec.json.Encoder()


def default_prompt(problem: Problem) -> Sequence[Message]:
    from stepstones import envs  # noqa: PLC0415 - envs imports the sandbox; load it on use

    return envs.get(problem.env).student_prompt(problem)


def label_of(problem: Problem) -> str:
    """The label text: the problem's versioned JSON record."""
    return records.encode_json(problem).decode()


def datasource(problem: Problem, bin_name: str | None) -> str:
    """The per-environment/bin tag trainers group metrics by, e.g. ``stepstones/induction/hard``."""
    return f"stepstones/{problem.env}/{bin_name or 'all'}"


def _messages(problem: Problem, prompt_for: PromptFn) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in prompt_for(problem)]


def openrlhf_row(bin_name: str | None, problem: Problem, prompt_for: PromptFn) -> dict[str, Any]:
    return {
        "prompt": _messages(problem, prompt_for),
        "label": label_of(problem),
        "datasource": datasource(problem, bin_name),
    }


def verl_row(
    bin_name: str | None, problem: Problem, prompt_for: PromptFn, *, index: int, split: str
) -> dict[str, Any]:
    return {
        "data_source": datasource(problem, bin_name),
        "prompt": _messages(problem, prompt_for),
        "ability": "code",
        "reward_model": {"style": "rule", "ground_truth": label_of(problem)},
        "extra_info": {
            "split": split,
            "index": index,
            "problem_id": problem.id,
            "env": problem.env,
            "bin": bin_name or "",
            "pass_rate": -1.0 if problem.pass_rate is None else problem.pass_rate,
        },
    }


def trl_row(bin_name: str | None, problem: Problem, prompt_for: PromptFn) -> dict[str, Any]:
    return {
        "prompt": _messages(problem, prompt_for),
        "label": label_of(problem),
        "env": problem.env,
        "bin": bin_name or "",
        "problem_id": problem.id,
    }


def rows(
    fmt: Format, items: Iterable[Item], *, prompt_for: PromptFn | None = None, split: str = "train"
) -> list[dict[str, Any]]:
    """The rows of one export format, in item order."""
    pf = prompt_for or default_prompt
    if fmt == "openrlhf":
        return [openrlhf_row(b, p, pf) for b, p in items]
    if fmt == "trl":
        return [trl_row(b, p, pf) for b, p in items]
    if fmt == "verl":
        return [verl_row(b, p, pf, index=i, split=split) for i, (b, p) in enumerate(items)]
    raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")


#: The file containers each trainer reads, by file-name extension.
CONTAINERS: dict[str, tuple[str, ...]] = {
    "openrlhf": (".jsonl", ".parquet"),
    "trl": (".jsonl", ".parquet"),
    "verl": (".parquet",),  # verl's RLHFDataset reads Parquet
}


def container_of(fmt: Format, path: str | Path) -> str:
    """The container ``path``'s extension asks for (".jsonl" or ".parquet"); ExportError in
    one sentence when it names a directory, no known container, or one the trainer cannot
    read."""
    text = str(path)
    out = Path(text)
    if text.endswith("/") or out.is_dir():
        example = out / f"train{CONTAINERS[fmt][0]}"
        raise ExportError(
            f"{text!r} is a directory: --out takes a file name, e.g. {str(example)!r}"
        )
    suffix = out.suffix.lower()
    if suffix not in CONTAINERS[fmt]:
        allowed = " or ".join(CONTAINERS[fmt])
        raise ExportError(
            f"{fmt} reads {allowed} files but {text!r} ends in {suffix or 'no extension'!r}: "
            f"name the output *{CONTAINERS[fmt][0]}"
        )
    return suffix


def _write_jsonl(tmp: Path, data: list[dict[str, Any]]) -> None:
    with tmp.open("wb") as fh:
        for row in data:
            fh.write(_json.encode(row))
            fh.write(b"\n")


def _write_parquet(tmp: Path, data: list[dict[str, Any]]) -> None:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415 - optional extra
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415
    except ImportError as exc:
        raise ExportError(
            "writing Parquet needs pyarrow: pip install 'stepstones[parquet]'"
        ) from exc
    pq.write_table(pa.Table.from_pylist(data), tmp)


def write(
    fmt: Format,
    items: Iterable[Item],
    path: str | Path,
    *,
    prompt_for: PromptFn | None = None,
    split: str = "train",
) -> int:
    """Write one export file atomically (temp file + rename); returns the number of rows.

    The extension picks the container (:data:`CONTAINERS`: ``.jsonl`` or ``.parquet``; verl
    reads Parquet only); a name the trainer cannot read is refused before anything is written.
    On any failure the temporary file is removed and the destination is untouched.
    """
    container = container_of(fmt, path)
    data = rows(fmt, items, prompt_for=prompt_for, split=split)
    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if container == ".parquet":
            _write_parquet(tmp, data)
        else:
            _write_jsonl(tmp, data)
        tmp.replace(out)
    except OSError as exc:
        raise ExportError(f"cannot write {str(out)!r}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return len(data)
