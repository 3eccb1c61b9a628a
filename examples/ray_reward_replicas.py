"""One reward server per node of a Ray cluster, and the URL list OpenRLHF takes.

    python examples/ray_reward_replicas.py --ray auto --port 8000 --urls-file reward_urls.txt
    # then, in the launch script:
    #   --reward.remote_url "$(cat reward_urls.txt)"

Needs ``pip install 'stepstones[ray]'`` on every node. Each replica is a Ray actor pinned to its
node, grading with a sandbox of one zygote per core of that node; OpenRLHF splits the
comma-separated ``--reward.remote_url`` and round-robins over it. ``stepstones serve --ray
ADDRESS --urls-file FILE`` does the same from the command line and keeps serving until Ctrl-C;
this script asks every replica once, in OpenRLHF's protocol, then stops them (``--forever``
keeps them up).
"""

from __future__ import annotations

import argparse
import sys
import threading

import anyio
import httpx

from stepstones import envs, records
from stepstones.distributed import ReplicaSettings, RewardReplicas, connect, require_ray
from stepstones.records import Draft, Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import Config

PROMPT = "<|im_start|>user\nWhat is f('ab')?<|im_end|>\n<|im_start|>assistant\n"


async def label() -> str:
    draft = Draft(
        env="deduction",
        code="def f(s):\n    return s * 2\n",
        inputs=("'ab'", "'x'", "''", "'hey'", "'zz'"),
    )
    with Sandbox(workers=1) as sandbox:
        problem = await envs.get("deduction").validate(draft, sandbox)
    assert isinstance(problem, Problem), problem
    return records.encode_json(problem).decode()


def main(args: argparse.Namespace) -> int:
    the_label = anyio.run(label)
    started = connect(args.ray, num_cpus=args.local_cpus if args.ray == "local" else None)
    try:
        settings = ReplicaSettings(server=Config(host=args.host, port=args.port))
        with RewardReplicas(settings, cpus_per_replica=args.cpus_per_replica) as replicas:
            print(f"--reward.remote_url {replicas.remote_url}")
            if args.urls_file:
                print(f"wrote {replicas.write(args.urls_file)}")
            for url in replicas.urls:
                body = {
                    "query": [PROMPT + "```output\n'abab'\n```<|im_end|>"],
                    "prompts": [PROMPT],
                    "labels": [the_label],
                }
                reply = httpx.post(url, json=body, timeout=60).json()
                print(f"{url} -> rewards {reply['rewards']}")
            if args.forever:
                print("serving until Ctrl-C")
                threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if started:
            require_ray().shutdown()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ray", default="local", help="'auto', an address, or 'local'")
    parser.add_argument("--local-cpus", type=int, default=None, help="CPUs with --ray local")
    parser.add_argument("--host", default="127.0.0.1", help="loopback: the node's address")
    parser.add_argument("--port", type=int, default=0, help="0: a free port on each node")
    parser.add_argument("--cpus-per-replica", type=float, default=1.0)
    parser.add_argument("--urls-file", default=None)
    parser.add_argument("--forever", action="store_true")
    sys.exit(main(parser.parse_args()))
