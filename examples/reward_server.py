"""Serve rewards over HTTP the way OpenRLHF asks for them, and ask for some.

    python examples/reward_server.py              # start, send a few requests, stop
    python examples/reward_server.py --forever    # keep serving on --port (Ctrl-C stops)

This starts the stepstones reward server inside this program (what ``stepstones serve`` runs
in the foreground), then posts OpenRLHF's remote-reward request to it: ``{"query": [prompt +
response], "prompts": [prompt], "labels": [label]}``. A label is an exported problem (the JSON
``stepstones export`` writes); the answer is ``{"rewards", "scores", "extra_logs"}``, always
HTTP 200 with a number per item, so a bad item never crashes a training run.

Point OpenRLHF at a server with ``--reward.remote_url http://HOST:PORT/get_reward`` (several
URLs, comma-separated, are used round-robin: see examples/ray_reward_replicas.py).
"""

from __future__ import annotations

import argparse
import sys

import anyio
import httpx

from stepstones import envs, records
from stepstones.records import Draft, Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import App, Config, Rewarder, running

PROMPT = (
    "<|im_start|>user\nWhat does f return for the input shown?<|im_end|>\n<|im_start|>assistant\n"
)
RESPONSES = {
    "right": "f(3) is 3 * 3 - 1.\n```output\n8\n```<|im_end|>",
    "wrong": "```output\n9\n```<|im_end|>",
    "no answer": "It returns a number.<|im_end|>",
}


async def label(sandbox: Sandbox) -> str:
    """A deduction problem (the student is shown f and the first input), validated in the
    sandbox, exported as a trainer label."""
    draft = Draft(
        env="deduction", code="def f(x):\n    return x * x - 1\n", inputs=("3", "4", "5", "6", "7")
    )
    problem = await envs.get("deduction").validate(draft, sandbox)
    assert isinstance(problem, Problem), problem
    return records.encode_json(problem).decode()


async def main(args: argparse.Namespace) -> int:
    with Sandbox(workers=args.workers) as sandbox:
        app = App(Rewarder(sandbox), Config(host=args.host, port=args.port))
        async with running(app) as base_url:
            url = f"{base_url}/get_reward"
            print(f"reward server at {url}  (OpenRLHF: --reward.remote_url {url})")
            the_label = await label(sandbox)
            async with httpx.AsyncClient(timeout=30) as client:
                for name, response in RESPONSES.items():
                    body = {
                        "query": [PROMPT + response],
                        "prompts": [PROMPT],
                        "labels": [the_label],
                    }
                    reply = (await client.post(url, json=body)).json()
                    outcome = [k for k, v in reply["extra_logs"].items() if v == [1.0]]
                    print(f"  {name:<10} reward {reply['rewards'][0]}  outcome {outcome[0]}")
                health = await client.get(f"{base_url}/healthz")
                print(f"  GET /healthz -> {health.status_code}")
            if args.forever:
                print("serving until Ctrl-C")
                await anyio.sleep_forever()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--workers", type=int, default=2, help="sandbox zygotes")
    parser.add_argument("--forever", action="store_true", help="keep serving after the demo")
    try:
        sys.exit(anyio.run(main, parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
