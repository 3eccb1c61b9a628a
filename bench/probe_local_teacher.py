"""How often does the embedded local model write a usable teacher reply?

For each environment, asks the local model (llama.cpp serving the pinned Qwen2.5-Coder-0.5B,
or ``--base-url``/``--model`` for any OpenAI-compatible server) the turn-1 teacher prompt for K
stdlib seeds, then parses every reply and validates the parsed drafts in the real sandbox.
Reports, per environment, how many of K replies parse and how many validate, and the most common
rejection reasons. Sampling uses :data:`stepstones.pipeline.LOCAL_CONFIG` unless overridden.
``--unit function`` draws seeds that are one whole 5-30 line stdlib function instead of the
default 25-50 line windows. Replies that repeat the worked example count as rejections.

``--save DIR`` writes every reply (one JSON line per reply) so a parser change can be judged on
the same replies with ``--replay FILE`` (no model needed). This is a quality probe, not a speed
benchmark: it is not run by ``run_all.py``.

    .venv/bin/python bench/probe_local_teacher.py --k 6 --json /tmp/probe.json --save /tmp/replies
    .venv/bin/python bench/probe_local_teacher.py --k 8 --envs induction --unit function
    .venv/bin/python bench/probe_local_teacher.py --replay /tmp/replies/replies.jsonl
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec

from stepstones import envs
from stepstones.llm import Endpoint, LLMClient, Sampling, local_endpoint
from stepstones.pipeline import LOCAL_CONFIG
from stepstones.records import Draft, Env, Rejection
from stepstones.sandbox import Sandbox
from stepstones.seeds import SeedSampler

ENVS: tuple[Env, ...] = ("induction", "abduction", "deduction", "fuzzing")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--k", type=int, default=6, help="replies per environment")
    p.add_argument("--envs", default=",".join(ENVS), help="comma-separated environments")
    p.add_argument("--seed-number", type=int, default=0, help="first seed number")
    p.add_argument(
        "--unit",
        choices=("window", "function"),
        default="window",
        help="seed unit: a 25-50 line window, or one whole 5-30 line top-level function",
    )
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--base-url", default=None, help="use this server instead of the local model")
    p.add_argument("--model", default="local")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--save", type=Path, default=None, help="directory for replies.jsonl")
    p.add_argument("--replay", type=Path, default=None, help="re-judge saved replies; no model")
    return p.parse_args(argv)


async def _ask(args: argparse.Namespace, env_names: list[Env]) -> list[dict[str, Any]]:
    if args.unit == "function":
        sampler = SeedSampler(None, unit="function", min_lines=5, max_lines=30)
    else:
        sampler = SeedSampler(None)
    cfg = LOCAL_CONFIG.teacher_sampling
    sampling = Sampling(
        temperature=cfg.temperature if args.temperature is None else args.temperature,
        top_p=cfg.top_p,
        max_tokens=cfg.max_tokens if args.max_tokens is None else args.max_tokens,
    )
    replies: list[dict[str, Any]] = []

    async def run(client: LLMClient) -> None:
        for i in range(args.k):
            seed = sampler.sample(args.seed_number + i)
            for name in env_names:
                messages = envs.get(name).seed_prompt(seed)
                t0 = time.perf_counter()
                sampled = msgspec.structs.replace(sampling, seed=args.seed_number + i)
                res = await client.chat(messages, sampled, 1)
                choice = res.choices[0]
                replies.append(
                    {
                        "env": name,
                        "seed": seed.id,
                        "seed_text": seed.text,
                        "text": choice.text,
                        "reasoning": choice.reasoning,
                        "finish_reason": choice.finish_reason,
                        "completion_tokens": res.usage.completion_tokens,
                        "wall_time_s": round(time.perf_counter() - t0, 2),
                    }
                )
                print(
                    f"  {name:9s} seed {i}: {res.usage.completion_tokens} tokens, "
                    f"{replies[-1]['wall_time_s']} s",
                    file=sys.stderr,
                )

    if args.base_url:
        ep = Endpoint(base_url=args.base_url, model=args.model, timeout_s=900.0)
        async with LLMClient(ep) as client:
            await run(client)
    else:
        async with local_endpoint() as ep, LLMClient(ep) as client:
            await run(client)
    return replies


async def _judge(replies: list[dict[str, Any]]) -> dict[str, Any]:
    by_env: dict[str, dict[str, Any]] = {}
    with Sandbox(workers=1) as sandbox:
        for r in replies:
            env = envs.get(r["env"])
            row = by_env.setdefault(
                r["env"], {"replies": 0, "parsed": 0, "valid": 0, "reasons": collections.Counter()}
            )
            row["replies"] += 1
            draft = env.parse(r["text"], reasoning=r.get("reasoning", ""))
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


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    env_names: list[Env] = []
    for name in (e for e in args.envs.split(",") if e):
        env = next((e for e in ENVS if e == name), None)
        if env is None:
            print(f"unknown environment {name!r}; choose from {', '.join(ENVS)}", file=sys.stderr)
            return 2
        env_names.append(env)
    if args.replay is not None:
        lines = args.replay.read_text(encoding="utf-8").splitlines()
        replies = [json.loads(x) for x in lines if x.strip()]
        replies = [r for r in replies if r["env"] in env_names]
    else:
        replies = anyio.run(_ask, args, env_names)
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            with (args.save / "replies.jsonl").open("w", encoding="utf-8") as fh:
                for r in replies:
                    fh.write(json.dumps(r) + "\n")
    results = anyio.run(_judge, replies)
    total = {k: sum(row[k] for row in results.values()) for k in ("replies", "parsed", "valid")}
    for name, row in results.items():
        print(f"{name:9s}: {row['parsed']}/{row['replies']} parse, {row['valid']} valid")
        for reason, count in list(row["reasons"].items())[:4]:
            print(f"    {count} x {reason}")
    print(f"total    : {total['parsed']}/{total['replies']} parse, {total['valid']} valid")
    if args.json is not None:
        doc = {"replay": str(args.replay) if args.replay else None, "envs": results, **total}
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
