"""Grow chains on a Ray cluster from Python: seeds sharded over actors, one store on the driver.

    python examples/ray_generate.py --ray auto --base-url http://VLLM_HOST:8000/v1 --model MODEL \
        --out runs/ray-demo --chains 200 --actors 8
    python examples/ray_generate.py --ray local ...     # a private cluster on this machine

Needs ``pip install 'stepstones[ray]'`` on every node. Each actor has its own event loop,
sandbox and LLM clients; only this process writes ``--out``, so the run directory has the same
guarantees as ``stepstones generate`` on one machine (which is what ``stepstones generate
--ray ADDRESS`` runs): re-running with the same ``--out`` grows only what is missing, and if
an actor dies its unfinished chains are grown again by a fresh one, never stored twice.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio

from stepstones.distributed import RayRunner, WorkerSpec, check_endpoint, connect, require_ray
from stepstones.llm import Endpoint
from stepstones.pipeline import Config, Job, Manifest, RunStore, compute_stats, read_chains
from stepstones.seeds import SeedSampler


def jobs(sampler: SeedSampler, env: str) -> Iterator[Job]:
    for number in itertools.count():
        yield Job(seed=sampler.sample(number), env=env, mode="adaptive")  # type: ignore[arg-type]


async def main(args: argparse.Namespace) -> int:
    endpoint = Endpoint(base_url=args.base_url, model=args.model, api_key=args.api_key)
    await check_endpoint(endpoint)  # no server or a wrong model: one sentence, before Ray
    sampler = SeedSampler(args.seeds)  # None: the standard library's sources
    config = Config(samples=args.samples, max_turns=args.max_turns)
    started = connect(args.ray, num_cpus=args.local_cpus if args.ray == "local" else None)
    try:
        with RunStore.open(args.out, Manifest(config=config, envs=(args.env,))) as store:
            runner = RayRunner(
                WorkerSpec(
                    teacher=endpoint,
                    student=endpoint,
                    config=config,
                    envs=(args.env,),
                    sandbox_workers=1,
                ),
                store=store,
                actors=args.actors,
                chains_in_flight=args.in_flight,
                cpus_per_actor=args.cpus_per_actor,
                on_chain=lambda chain: print(f"stored chain {chain.id} ({len(chain.turns)} turns)"),
            )
            result = await runner.run(jobs(sampler, args.env), chains=args.chains)
    finally:
        if started:
            require_ray().shutdown()
    stats = compute_stats(read_chains(args.out), config)
    print(
        f"{result.stored} new chains, {result.skipped} already stored, {result.failed} failed, "
        f"{sum(runner.restarts)} actor restarts; {stats.chains} chains in {args.out}"
    )
    for mode in stats.by_mode:
        print(f"{mode.mode}: {mode.viable} viable of {mode.measured} measured problems")
    return 0 if not result.failed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ray", default="local", help="'auto', an address, or 'local'")
    parser.add_argument("--local-cpus", type=int, default=None, help="CPUs with --ray local")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--seeds", default=None, help="directory or .jsonl/.parquet of code")
    parser.add_argument("--env", default="induction")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--chains", type=int, default=8)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=8, help="chains per actor at once")
    parser.add_argument("--cpus-per-actor", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-turns", type=int, default=4)
    sys.exit(anyio.run(main, parser.parse_args()))
