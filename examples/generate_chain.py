"""Grow one chain of stepping-stone problems from a snippet of code, from your own code.

    python examples/generate_chain.py --base-url http://127.0.0.1:8000/v1 --model MODEL

Any OpenAI-compatible chat-completions server works (vLLM, SGLang, llama.cpp's server,
OpenAI). The teacher writes a problem from the snippet, the student attempts it ``--samples``
times, the sandbox grades every attempt by running it, and the teacher rewrites the problem
harder or easier from the measured pass rate. The paper used one model for both roles, the
teacher at high and the student at low reasoning effort (``--student-model`` to use another).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

import stepstones
from stepstones import records
from stepstones.llm import Endpoint
from stepstones.pipeline import Config

SEED = '''\
def merge_intervals(intervals):
    """Merge overlapping [start, end] intervals."""
    ordered = sorted(intervals, key=lambda pair: pair[0])
    merged = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def total_covered(intervals):
    return sum(end - start for start, end in merge_intervals(intervals))
'''


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="API root, e.g. http://HOST:8000/v1")
    parser.add_argument("--model", required=True, help="teacher model (and student by default)")
    parser.add_argument("--student-model", default=None, help="student model (default --model)")
    parser.add_argument("--api-key", default=None, help="API key, if the server needs one")
    parser.add_argument(
        "--env", default="induction", choices=["induction", "abduction", "deduction", "fuzzing"]
    )
    parser.add_argument("--samples", type=int, default=8, help="student attempts per problem")
    parser.add_argument("--max-turns", type=int, default=4, help="teacher turns in the chain")
    parser.add_argument("--out", type=Path, default=None, help="write the chain here as JSON")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> int:
    teacher = Endpoint(base_url=args.base_url, model=args.model, api_key=args.api_key)
    student = Endpoint(
        base_url=args.base_url, model=args.student_model or args.model, api_key=args.api_key
    )
    config = Config(samples=args.samples, max_turns=args.max_turns)
    chain = await stepstones.generate_chain(
        SEED, env=args.env, teacher=teacher, student=student, config=config
    )
    print(f"chain {chain.id}: {len(chain.turns)} turns in {chain.env} ({chain.mode})")
    for turn in chain.turns:
        head = f"  turn {turn.index} {turn.instruction}:"
        if turn.rejection is not None:
            print(head, f"rejected ({turn.rejection.kind}): {turn.rejection.reason[:120]}")
        elif turn.problem is not None and turn.summary is not None:
            rate, n = turn.summary.pass_rate, turn.summary.n_attempts
            first = turn.problem.code.strip().splitlines()[0]
            print(head, f"pass rate {rate:.2f} over {n} attempts  {first}")
    viable = [p for p in chain.problems if config.is_viable(p.pass_rate)]
    print(
        f"{len(viable)} of {len(chain.problems)} problems are viable for RL "
        f"({config.keep_low} <= p <= {config.keep_high})"
    )
    if args.out is not None:
        args.out.write_bytes(records.encode_json(chain) + b"\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main, parse_args()))
