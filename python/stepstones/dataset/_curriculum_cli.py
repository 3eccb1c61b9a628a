"""``stepstones curriculum``: a schedule -> one dataset per stage + plan.json (+ launch.sh).

Example (the paper's medium-start reverse schedule over 2,000 steps of 128 prompts)::

    stepstones curriculum runs/first --schedule medium_start_reverse --total-steps 2000 \\
        --prompts-per-step 128 --out data/msr
    BASE_MODEL=Qwen/Qwen2.5-7B-Instruct bash data/msr/launch.sh
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import msgspec

from stepstones.dataset._curriculum import MAX_REPEATS, StageData, materialise
from stepstones.dataset._export import FORMATS, rows, write
from stepstones.dataset._plan import LaunchOptions, StagePlan, launch_script
from stepstones.dataset._schedule import PAPER_STEPS, SCHEDULES, parse_schedule
from stepstones.dataset._select import add_selection_arguments, select, why_empty
from stepstones.errors import ExportError

__all__ = ["add_arguments", "run"]

PLAN_FILE = "plan.json"
LAUNCH_FILE = "launch.sh"
_STAGE_FILE = re.compile(r"stage_\d+\.(jsonl|parquet)")

#: Where a curriculum of another trainer is trained from, since no launch script is written.
_NO_LAUNCH = {
    "verl": "examples/verl/run_grpo.sh (data.train_files=each stage_NN.parquet in order, "
    "each run from the previous one's checkpoint)",
    "trl": "examples/trl/train_grpo.py (each stage_NN.jsonl in order, each run from the "
    "previous one's output directory)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser, default_bins=None)
    parser.add_argument(
        "--schedule",
        required=True,
        help=f"preset ({', '.join(SCHEDULES)}), a schedule .json, or 'UNTIL:bin=w,...;UNTIL:...'",
    )
    parser.add_argument(
        "--total-steps",
        type=int,
        default=None,
        help=f"rescale the schedule to N RL steps (default: the schedule's own length; "
        f"{PAPER_STEPS} for the presets, as in the paper)",
    )
    parser.add_argument(
        "--prompts-per-step", type=int, default=128, help="prompts per RL step (rollout batch)"
    )
    parser.add_argument(
        "--samples-per-prompt",
        type=int,
        default=LaunchOptions().n_samples_per_prompt,
        help="GRPO group size, OpenRLHF's --rollout.n_samples_per_prompt (at least 2)",
    )
    parser.add_argument(
        "--format",
        default="openrlhf",
        choices=FORMATS,
        help="trainer of the stage files; only openrlhf gets a launch.sh",
    )
    parser.add_argument(
        "--renormalise",
        action="store_true",
        help="spread the weight of bins without problems over the stage's other bins",
    )
    parser.add_argument(
        "--allow-repeats",
        action="store_true",
        help=f"let a stage pass over a bin's problems more than {MAX_REPEATS:g} times (refused "
        "otherwise: a stage is a sample of distinct problems)",
    )
    parser.add_argument(
        "--reward-url",
        default=LaunchOptions().reward_url,
        help="reward server URL written into launch.sh (OpenRLHF's --reward.remote_url)",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="output directory; stage files a previous run left there are replaced",
    )


def _check_out(out: Path) -> list[Path]:
    """The files a previous curriculum left in ``out`` (to replace); refuses a directory
    that holds anything else, so no unrelated file is ever removed."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {str(out)!r} is a file: curriculum writes a directory")
    if not out.is_dir():
        return []
    entries = list(out.iterdir())
    ours = [
        p for p in entries if p.name in (PLAN_FILE, LAUNCH_FILE) or _STAGE_FILE.fullmatch(p.name)
    ]
    others = [p.name for p in entries if p not in ours]
    if others:
        raise ExportError(
            f"--out {str(out)!r} holds files that no curriculum wrote "
            f"({', '.join(sorted(others)[:3])}{', ...' if len(others) > 3 else ''}): choose an "
            "empty or new directory"
        )
    return ours


def _size_bytes(stage: StageData, fmt: str) -> int:
    """The stage file's size in bytes as JSONL (one rendered row per distinct problem)."""
    size: dict[str, int] = {}
    for _, p in stage.items:
        if p.id not in size:
            size[p.id] = len(msgspec.json.encode(rows(fmt, [(None, p)])[0])) + 1  # type: ignore[arg-type]
    return sum(size[p.id] for _, p in stage.items)


def _describe(stage: StageData) -> str:
    parts = []
    for b, n in stage.counts.items():
        distinct = stage.distinct[b]
        epochs = n / distinct
        parts.append(
            f"{b} {n:,} prompts from {distinct:,} problems"
            + (f" ({epochs:.1f} epochs)" if epochs > 1 else "")
        )
    return f"stage {stage.index + 1}: " + ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    if args.samples_per_prompt < 2:
        raise ExportError(
            f"--samples-per-prompt must be >= 2 (GRPO compares samples of one prompt), "
            f"got {args.samples_per_prompt}"
        )
    schedule = parse_schedule(
        args.schedule, bins=args.bins if args.bins in ("chain", "broad") else "custom"
    )
    if args.bins is None:
        args.bins = schedule.bins if schedule.bins != "custom" else None
    if args.bins is None:
        raise ExportError("an inline schedule needs --bins to say what its bin names mean")
    if args.total_steps is not None:
        schedule = schedule.scaled(args.total_steps)
    out = Path(args.out)
    stale = _check_out(out)
    bins, pools, report = select(args)
    if not any(pools.values()):
        raise ExportError(f"no curriculum to write: {why_empty(report, args.input)}")
    unknown = [b for b in schedule.bin_names if bins is None or b not in bins.names]
    if unknown:
        raise ExportError(
            f"schedule {schedule.name!r} names bins {unknown} that bin set {args.bins!r} lacks"
            f" (it has {list(bins.names) if bins else []}): choose matching --bins"
        )
    stages = materialise(
        schedule,
        pools,
        prompts_per_step=args.prompts_per_step,
        seed=args.seed,
        renormalise=args.renormalise,
        max_repeats=None if args.allow_repeats else MAX_REPEATS,
    )
    suffix = ".parquet" if args.format == "verl" else ".jsonl"
    total_rows = sum(len(st.items) for st in stages)
    total = sum(_size_bytes(st, args.format) for st in stages)
    size = f"{total / 2**20:,.0f} MiB" if total >= 2**20 else f"{max(1, round(total / 1024))} KiB"
    say(f"writing {len(stages)} stages, {total_rows:,} rows (about {size} as JSONL)")
    for st in stages:
        say(_describe(st))
    plans: list[StagePlan] = []
    for st in stages:
        name = f"stage_{st.index + 1:02d}{suffix}"
        n = write(args.format, st.items, out / name)
        plans.append(
            StagePlan(
                index=st.index + 1,
                dataset=name,
                steps=st.until_step - st.start_step,
                prompts=n,
                counts=st.counts,
                weights=st.weights,
            )
        )
    opts = LaunchOptions(
        reward_url=args.reward_url,
        prompts_per_step=args.prompts_per_step,
        n_samples_per_prompt=args.samples_per_prompt,
    )
    launch = LAUNCH_FILE if args.format == "openrlhf" else None
    plan = {
        "schedule": schedule,
        "bins": args.bins,
        "format": args.format,
        "seed": args.seed,
        "selection": report,
        "launch": opts,
        "launch_script": launch,
        "stages": plans,
    }
    try:
        (out / PLAN_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(plan)) + b"\n")
        if launch is not None:
            script = out / launch
            script.write_text(launch_script(plans, opts))
            script.chmod(0o755)
    except OSError as exc:
        raise ExportError(f"cannot write the plan into {str(out)!r}: {exc}") from exc
    written = {p.dataset for p in plans} | {PLAN_FILE} | ({launch} if launch else set())
    removed = sorted(p.name for p in stale if p.name not in written)
    for name in removed:
        (out / name).unlink(missing_ok=True)
    if removed:
        say(f"removed {', '.join(removed)} left in {out} by an earlier curriculum")
    if launch is None:
        say(
            f"no launch script is written for --format {args.format}: train with "
            + _NO_LAUNCH[args.format]
        )
    summary = {
        "out": str(out),
        "launch_script": str(out / launch) if launch else None,
        "stages": [(p.dataset, p.steps, p.counts) for p in plans],
    }
    sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    return 0


def say(text: str) -> None:
    """One line from ``stepstones curriculum`` on stderr."""
    sys.stderr.write(f"stepstones curriculum: {text}\n")
