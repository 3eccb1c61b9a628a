"""``stepstones curriculum``: a schedule -> one dataset per stage + plan.json + launch.sh.

Example (the paper's soft schedule over 2,000 steps of 128 prompts)::

    stepstones curriculum runs/demo --schedule soft --total-steps 2000 --prompts-per-step 128 \\
        --out data/soft
    BASE_MODEL=Qwen/Qwen2.5-7B-Instruct bash data/soft/launch.sh
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from stepstones.dataset._curriculum import materialise
from stepstones.dataset._export import FORMATS, write
from stepstones.dataset._plan import LaunchOptions, StagePlan, launch_script
from stepstones.dataset._schedule import SCHEDULES, parse_schedule
from stepstones.dataset._select import add_selection_arguments, select
from stepstones.errors import ExportError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_selection_arguments(parser, default_bins=None)
    parser.add_argument(
        "--schedule",
        required=True,
        help=f"preset ({', '.join(SCHEDULES)}), a schedule .json, or 'UNTIL:bin=w,...;UNTIL:...'",
    )
    parser.add_argument(
        "--total-steps", type=int, default=None, help="rescale the schedule to N RL steps"
    )
    parser.add_argument(
        "--prompts-per-step", type=int, default=128, help="prompts per RL step (rollout batch)"
    )
    parser.add_argument("--samples-per-prompt", type=int, default=8, help="GRPO group size")
    parser.add_argument("--format", default="openrlhf", choices=FORMATS)
    parser.add_argument("--renormalise", action="store_true", help="spread empty bins' weight")
    parser.add_argument("--reward-url", default=LaunchOptions().reward_url)
    parser.add_argument("--out", required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    schedule = parse_schedule(
        args.schedule, bins=args.bins if args.bins in ("chain", "broad") else "custom"
    )
    if args.bins is None:
        args.bins = schedule.bins if schedule.bins != "custom" else None
    if args.bins is None:
        raise ExportError("an inline schedule needs --bins to say what its bin names mean")
    if args.total_steps is not None:
        schedule = schedule.scaled(args.total_steps)
    bins, pools, report = select(args)
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
    )
    out = Path(args.out)
    suffix = ".parquet" if args.format == "verl" else ".jsonl"
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
    plan = {
        "schedule": schedule,
        "bins": args.bins,
        "format": args.format,
        "seed": args.seed,
        "selection": report,
        "launch": opts,
        "stages": plans,
    }
    try:
        (out / "plan.json").write_bytes(msgspec.json.format(msgspec.json.encode(plan)) + b"\n")
        if args.format == "openrlhf":
            script = out / "launch.sh"
            script.write_text(launch_script(plans, opts))
            script.chmod(0o755)
    except OSError as exc:
        raise ExportError(f"cannot write the plan into {str(out)!r}: {exc}") from exc
    summary = {"out": str(out), "stages": [(p.dataset, p.steps, p.counts) for p in plans]}
    sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    return 0
