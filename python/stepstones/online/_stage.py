"""OpenRLHF's way in: its prompt set is fixed per launch, so the next stage of a chained
curriculum is regenerated from the live pool just before it is launched.

``stepstones online RUN_DIR --next-stage stage_02.jsonl --out stage_02.live.jsonl`` reads the
stage file ``stepstones curriculum`` wrote (its problems are the base set), draws as many
prompts through a :class:`~stepstones.online.LiveSchedule` (new stones first, out-of-band
problems replaced by their stones, no problem starved) and writes them in the same format.
The schedule's state is kept in ``<run dir>/online/stage_state.json`` so successive stages
continue one rotation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stepstones.dataset._export import FORMATS, Format, write
from stepstones.errors import ExportError, LabelError, StoreError
from stepstones.online._pool import online_dir
from stepstones.online._schedule import LiveSchedule, base_from_labels
from stepstones.serve._labels import parse_label

__all__ = ["STATE_FILE", "next_stage", "read_rows"]

STATE_FILE = "stage_state.json"


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of an export file: JSONL (OpenRLHF, TRL) or Parquet (verl)."""
    file = Path(path)
    try:
        if file.suffix == ".parquet":
            import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415

            return list(pq.read_table(file).to_pylist())
        return [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read the stage file {str(file)!r}: {exc}") from exc


def _label(row: dict[str, Any]) -> Any:
    if "label" in row:
        return row["label"]
    reward_model = row.get("reward_model")
    if isinstance(reward_model, dict) and "ground_truth" in reward_model:
        return reward_model["ground_truth"]
    raise ExportError("a stage row has no 'label' nor 'reward_model.ground_truth': not an export")


def _bin(row: dict[str, Any]) -> str | None:
    tag = row.get("datasource") or row.get("data_source") or ""
    parts = str(tag).split("/")
    return parts[2] if len(parts) == 3 and parts[2] != "all" else row.get("bin") or None


def next_stage(
    run_dir: str | os.PathLike[str],
    stage_in: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fmt: Format = "openrlhf",
    prompts: int | None = None,
    window: int = 32,
    harder_above: float = 0.65,
    easier_at_or_below: float = 0.0,
) -> dict[str, int]:
    """Write the live version of ``stage_in`` to ``out``; returns counts by origin."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    rows = read_rows(stage_in)
    if not rows:
        raise ExportError(f"the stage file {str(stage_in)!r} holds no rows")
    labels = [_label(r) for r in rows]
    try:
        base = base_from_labels(labels)
        bins: dict[str, str | None] = {}
        for label, row in zip(labels, rows, strict=True):
            bins.setdefault(parse_label(label).id, _bin(row))
    except LabelError as exc:
        raise ExportError(f"{str(stage_in)!r}: {exc}") from None
    schedule = LiveSchedule(
        run_dir,
        base,
        window=window,
        harder_above=harder_above,
        easier_at_or_below=easier_at_or_below,
    )
    state_file = online_dir(run_dir) / STATE_FILE
    if state_file.exists():
        try:
            schedule.load_state_dict(json.loads(state_file.read_text()))
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {str(state_file)!r}: {exc}") from exc
    n = prompts if prompts is not None else len(rows)
    if n < 1:
        raise ExportError(f"prompts must be >= 1, got {n}")
    drawn = schedule.take(n)
    items = [(("live" if schedule.is_stone(p.id) else bins.get(p.id)), p) for p in drawn]
    write(fmt, items, Path(out))
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_name(state_file.name + ".tmp")
    tmp.write_text(json.dumps(schedule.state_dict()))
    tmp.replace(state_file)
    stones = sum(1 for p in drawn if schedule.is_stone(p.id))
    return {"prompts": n, "stones": stones, "base": n - stones, "pool": len(schedule.stones)}
