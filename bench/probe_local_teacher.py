"""How often does the embedded teacher write a usable problem, on its first turn and over a chain?

Turn-1 view (default): for each environment, asks the teacher (the embedded 1.5B through
llama.cpp, or ``--base-url``/``--model`` for any OpenAI-compatible server) the turn-1 prompt for
K seeds, parses every reply and validates the drafts in the real sandbox. ``--prompt old``
builds the turn-1 prompt with ``stepstones/envs/_prompts.py`` as it was at ``--old-rev`` (the
prompt before the small-teacher rework), and ``--parser old`` judges with that revision's
``_parse.py``, so old and new are compared on the same seeds.

Multi-turn view (``--turns N``, N > 1): grows one adaptive chain per seed with the embedded
teacher and student (M = ``--samples``), exactly as ``stepstones generate`` does, and reports
valid problems per teacher call, environments' chains with at least one valid problem, stones
(measured problems) and viable stones per chain, and how often a turn that follows a format
rejection (whose reason the teacher is told) is valid: the repair rate.

Seeds are whole 5-30 line stdlib functions (``--unit function``, what ``make demo`` uses) or
25-50 line windows (``--unit window``). Seed sets are fixed so that tuning never sees the
held-out seeds: ``--set tune`` uses
``SeedSampler`` seed numbers 0, 1, ... (the demo's seeds too);
``--set heldout`` uses seed numbers 7000 + K*j + i for environment j (induction, abduction,
deduction, fuzzing) and seed i, so each environment gets K seeds of its own (24 seeds for K=6).

``--save FILE`` writes every reply (turn-1) or chain (multi-turn) as JSON lines; ``--replay
FILE`` re-judges saved turn-1 replies (no model), so a parser change is judged on the same
replies. Results go to ``--json`` (default ``bench/results/probe_local_teacher-<view>.json``).
This is a quality probe, not a speed benchmark: ``run_all.py`` does not run it.

    nice -n 10 .venv/bin/python bench/probe_local_teacher.py --set tune --k 2
    nice -n 10 .venv/bin/python bench/probe_local_teacher.py --set heldout --k 6 --prompt old
    nice -n 10 .venv/bin/python bench/probe_local_teacher.py --set heldout --k 2 --turns 3
    .venv/bin/python bench/probe_local_teacher.py --replay /tmp/replies.jsonl --parser old
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
import types
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import msgspec

from stepstones import envs
from stepstones.envs import BaseEnvironment
from stepstones.llm import Client, Endpoint, Sampling
from stepstones.llm._local import local_endpoint, local_models, local_pair
from stepstones.pipeline import LOCAL_CONFIG
from stepstones.pipeline._chain import run_chain
from stepstones.pipeline._turn import TurnContext
from stepstones.records import Chain, Draft, Env, Message, Rejection, Seed, encode_json
from stepstones.sandbox import Sandbox
from stepstones.seeds import SeedSampler

ENVS: tuple[Env, ...] = ("induction", "abduction", "deduction", "fuzzing")
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
#: The prompt and parser before the small-teacher rework (issue 11).
OLD_REV = "f93bb10"
HELDOUT_BASE = 7000
#: Line bounds of function seeds (``--unit function``, the demo's seeds).
FUNCTION_LINES = (5, 30)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=("tune", "heldout"), default="tune", help="seed set")
    p.add_argument("--k", type=int, default=2, help="seeds per environment")
    p.add_argument(
        "--unit",
        choices=("function", "window"),
        default="function",
        help="seeds: one whole 5-30 line stdlib function (the demo's), or a 25-50 line window",
    )
    p.add_argument("--envs", default=",".join(ENVS), help="comma-separated environments")
    p.add_argument("--prompt", choices=("new", "old"), default="new", help="turn-1 prompt")
    p.add_argument("--parser", choices=("new", "old"), default="new", help="reply parser")
    p.add_argument("--old-rev", default=OLD_REV, help="git revision of the old prompt/parser")
    p.add_argument("--turns", type=int, default=1, help=">1: grow chains of this many turns")
    p.add_argument("--samples", type=int, default=LOCAL_CONFIG.samples, help="M (multi-turn)")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--base-url", default=None, help="use this server as the teacher (turn 1)")
    p.add_argument("--model", default="local")
    p.add_argument("--json", type=Path, default=None, help="where to write the results")
    p.add_argument("--save", type=Path, default=None, help="JSONL of every reply or chain")
    p.add_argument("--replay", type=Path, default=None, help="re-judge saved turn-1 replies")
    return p.parse_args(argv)


def seeds_for(which: str, env_index: int, k: int, unit: str) -> list[tuple[int, Seed]]:
    """The (seed number, Seed) pairs of one environment in a seed set (module docstring)."""
    if unit == "function":
        sampler = SeedSampler(
            None, unit="function", min_lines=FUNCTION_LINES[0], max_lines=FUNCTION_LINES[1]
        )
    else:
        sampler = SeedSampler(None)
    if which == "tune":
        numbers = range(k)
    else:
        numbers = range(HELDOUT_BASE + k * env_index, HELDOUT_BASE + k * (env_index + 1))
    return [(n, sampler.sample(n)) for n in numbers]


def module_at(rev: str, path: str, name: str) -> types.ModuleType:
    """The module at ``path`` as it was at git revision ``rev`` (for the old prompt/parser)."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    module = types.ModuleType(name)
    module.__file__ = f"{rev}:{path}"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def seed_messages(env: BaseEnvironment, seed: Seed, old: types.ModuleType | None) -> list[Message]:
    """Turn 1's prompt: today's, or the one ``old`` (the old _prompts module) built."""
    if old is None:
        return env.seed_prompt(seed)
    flags = {"message": env.needs_message, "witness": env.needs_witness}
    fmt = old.teacher_format(env.functions, env.n_inputs, **flags)
    example = old.example_exchange(env.functions, env.n_inputs, **flags)
    messages: list[Message] = old.teacher_messages(
        env.task(), old.seed_body(seed), fmt, None, example
    )
    return messages


def _sampling(args: argparse.Namespace) -> Sampling:
    cfg = LOCAL_CONFIG.teacher_sampling
    return Sampling(
        temperature=cfg.temperature if args.temperature is None else args.temperature,
        top_p=cfg.top_p,
        max_tokens=cfg.max_tokens if args.max_tokens is None else args.max_tokens,
    )


async def _ask(args: argparse.Namespace, env_names: list[Env]) -> list[dict[str, Any]]:
    old = None
    if args.prompt == "old":
        old = module_at(args.old_rev, "python/stepstones/envs/_prompts.py", "_old_prompts")
    sampling = _sampling(args)
    replies: list[dict[str, Any]] = []

    per_env = {name: seeds_for(args.set, ENVS.index(name), args.k, args.unit) for name in env_names}

    async def run(client: Client) -> None:
        # Seed-major order: a run cut short still covers every environment about equally.
        for i, name in ((i, name) for i in range(args.k) for name in env_names):
            env = envs.get(name)
            assert isinstance(env, BaseEnvironment)
            for number, seed in per_env[name][i : i + 1]:
                t0 = time.perf_counter()
                sampled = msgspec.structs.replace(sampling, seed=number)
                res = await client.chat(seed_messages(env, seed, old), sampled, 1)
                choice = res.choices[0]
                replies.append(
                    {
                        "env": name,
                        "seed_number": number,
                        "seed": seed.id,
                        "seed_text": seed.text,
                        "prompt": args.prompt,
                        "text": choice.text,
                        "reasoning": choice.reasoning,
                        "finish_reason": choice.finish_reason,
                        "prompt_tokens": res.usage.prompt_tokens,
                        "completion_tokens": res.usage.completion_tokens,
                        "wall_time_s": round(time.perf_counter() - t0, 2),
                    }
                )
                r = replies[-1]
                if args.save is not None:  # one line per reply as it comes: a cut run keeps them
                    with args.save.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(r) + "\n")
                print(
                    f"  {name:9s} seed {number}: {r['prompt_tokens']} + "
                    f"{r['completion_tokens']} tokens, {r['wall_time_s']} s ({i + 1}/{args.k})",
                    file=sys.stderr,
                )

    if args.base_url:
        ep = Endpoint(base_url=args.base_url, model=args.model, timeout_s=900.0)
        async with Client(ep) as client:
            await run(client)
    else:  # the teacher alone: turn 1 needs no student
        async with local_endpoint(local_models()[0]) as ep, Client(ep) as client:
            await run(client)
    return replies


async def _judge(replies: list[dict[str, Any]], parser: types.ModuleType | None) -> dict[str, Any]:
    by_env: dict[str, dict[str, Any]] = {}
    with Sandbox(workers=1) as sandbox:
        for r in replies:
            env = envs.get(r["env"])
            assert isinstance(env, BaseEnvironment)
            row = by_env.setdefault(
                r["env"], {"replies": 0, "parsed": 0, "valid": 0, "reasons": collections.Counter()}
            )
            row["replies"] += 1
            if parser is None:
                draft = env.parse(r["text"], reasoning=r.get("reasoning", ""))
            else:
                draft = parser.parse_reply(
                    r["text"],
                    env=env.name,
                    required=env.functions,
                    n_inputs=env.n_inputs,
                    need_message=env.needs_message,
                    need_witness=env.needs_witness,
                    reasoning=r.get("reasoning", ""),
                )
            if isinstance(draft, Rejection):
                row["reasons"][f"format: {draft.reason[:90]}"] += 1
                continue
            assert isinstance(draft, Draft)
            row["parsed"] += 1
            problem = await env.validate(draft, sandbox)
            if isinstance(problem, Rejection):
                row["reasons"][f"{problem.kind}: {problem.reason[:90]}"] += 1
                continue
            row["valid"] += 1
    for row in by_env.values():
        row["reasons"] = dict(row["reasons"].most_common())
    return by_env


async def _chains(args: argparse.Namespace, env_names: list[Env]) -> list[Chain]:
    config = LOCAL_CONFIG.replace(max_turns=args.turns, samples=args.samples)
    chains: list[Chain] = []
    with Sandbox() as sandbox:
        async with AsyncExitStack() as stack:
            pair = await stack.enter_async_context(local_pair())
            teacher = await stack.enter_async_context(Client(pair.teacher))
            student = teacher
            if pair.student != pair.teacher:
                student = await stack.enter_async_context(Client(pair.student))
            for name in env_names:
                env = envs.get(name)
                ctx = TurnContext(
                    env=env, teacher=teacher, student=student, sandbox=sandbox, config=config
                )
                for number, seed in seeds_for(args.set, ENVS.index(name), args.k, args.unit):
                    t0 = time.perf_counter()
                    chain = await run_chain(ctx, seed, "adaptive")
                    chains.append(chain)
                    print(
                        f"  {name:9s} seed {number}: "
                        + ", ".join(_turn_word(t) for t in chain.turns)
                        + f" ({time.perf_counter() - t0:.0f} s)",
                        file=sys.stderr,
                    )
    return chains


def _turn_word(turn: Any) -> str:
    if turn.problem is not None and turn.problem.pass_rate is not None:
        return f"p={turn.problem.pass_rate:.2f}"
    if turn.rejection is not None:
        return f"{turn.rejection.kind} rejection"
    return "unmeasured"


def chain_stats(chains: list[Chain]) -> dict[str, Any]:
    """Per environment: teacher calls, valid problems, stones and the repair rate."""
    out: dict[str, Any] = {}
    keep = LOCAL_CONFIG
    for chain in chains:
        row = out.setdefault(
            chain.env,
            {
                "chains": 0,
                "teacher_calls": 0,
                "valid": 0,
                "chains_with_valid": 0,
                "turn1_valid": 0,
                "later_turns": 0,
                "later_valid": 0,
                "stones": 0,
                "viable_stones": 0,
                "chains_with_2_rates": 0,
                "after_format_error": 0,
                "repaired": 0,
                "reasons": collections.Counter(),
            },
        )
        row["chains"] += 1
        row["teacher_calls"] += len(chain.turns)
        valid = [t for t in chain.turns if t.problem is not None]
        row["valid"] += len(valid)
        row["chains_with_valid"] += bool(valid)
        row["turn1_valid"] += bool(chain.turns and chain.turns[0].problem is not None)
        row["later_turns"] += max(0, len(chain.turns) - 1)
        row["later_valid"] += sum(1 for t in chain.turns[1:] if t.problem is not None)
        rates = [p.pass_rate for p in chain.problems if p.pass_rate is not None]
        row["stones"] += len(rates)
        viable = [r for r in rates if keep.is_viable(r) and 0.0 < r < 1.0]
        row["viable_stones"] += len(viable)
        row["chains_with_2_rates"] += len(set(viable)) >= 2
        for before, after in zip(chain.turns, chain.turns[1:], strict=False):
            if before.rejection is not None and before.rejection.kind == "format":
                row["after_format_error"] += 1
                row["repaired"] += after.problem is not None
        for t in chain.turns:
            if t.rejection is not None:
                row["reasons"][f"{t.rejection.kind}: {t.rejection.reason[:90]}"] += 1
    for row in out.values():
        row["valid_per_call"] = round(row["valid"] / max(1, row["teacher_calls"]), 3)
        row["stones_per_chain"] = round(row["stones"] / max(1, row["chains"]), 3)
        row["reasons"] = dict(row["reasons"].most_common())
    return out


def _env_names(text: str) -> list[Env] | None:
    names: list[Env] = []
    for name in (e for e in text.split(",") if e):
        env = next((e for e in ENVS if e == name), None)
        if env is None:
            print(f"unknown environment {name!r}; choose from {', '.join(ENVS)}", file=sys.stderr)
            return None
        names.append(env)
    return names


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    env_names = _env_names(args.envs)
    if env_names is None:
        return 2
    common = {"set": args.set, "unit": args.unit, "k": args.k, "envs": env_names}
    common["old_rev"] = args.old_rev
    if args.turns > 1:
        t0 = time.perf_counter()
        chains = anyio.run(_chains, args, env_names)
        wall = round(time.perf_counter() - t0, 1)
        if args.save is not None:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_bytes(b"".join(encode_json(c) + b"\n" for c in chains))
        stats = chain_stats(chains)
        for name, row in stats.items():
            print(
                f"{name:9s}: {row['valid']}/{row['teacher_calls']} calls valid, "
                f"{row['chains_with_valid']}/{row['chains']} chains with a valid problem, "
                f"{row['stones_per_chain']} stones/chain, {row['viable_stones']} viable, "
                f"repaired {row['repaired']}/{row['after_format_error']} format errors"
            )
        doc = {**common, "view": "chains", "turns": args.turns, "samples": args.samples}
        doc |= {"wall_s": wall, "envs_stats": stats}
        _write(args.json or RESULTS / f"probe_local_teacher-{args.set}-chains.json", doc)
        return 0
    if args.replay is not None:
        lines = args.replay.read_text(encoding="utf-8").splitlines()
        replies = [json.loads(x) for x in lines if x.strip()]
        replies = [r for r in replies if r["env"] in env_names]
    else:
        if args.save is not None:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            args.save.write_text("", encoding="utf-8")
        replies = anyio.run(_ask, args, env_names)
    parser = None
    if args.parser == "old":
        parser = module_at(args.old_rev, "python/stepstones/envs/_parse.py", "_old_parse")
    results = anyio.run(_judge, replies, parser)
    total = {k: sum(row[k] for row in results.values()) for k in ("replies", "parsed", "valid")}
    for name, row in results.items():
        print(f"{name:9s}: {row['parsed']}/{row['replies']} parse, {row['valid']} valid")
        for reason, count in list(row["reasons"].items())[:4]:
            print(f"    {count} x {reason}")
    print(f"total    : {total['parsed']}/{total['replies']} parse, {total['valid']} valid")
    prompt = replies[0].get("prompt", "?") if replies else args.prompt
    doc = {**common, "view": "turn1", "prompt": prompt, "parser": args.parser}
    doc |= {"replay": str(args.replay) if args.replay else None, "envs_stats": results, **total}
    name = f"probe_local_teacher-{args.set}-turn1-{prompt}prompt-{args.parser}parser.json"
    _write(args.json or RESULTS / name, doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
