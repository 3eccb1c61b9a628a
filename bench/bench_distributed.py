"""Generation throughput over Ray: 1 actor versus 2 actors against a delayed scripted server.

A local Ray cluster (all cores of this machine) runs generation actors; the teacher and the
student are stepstones.testing's scripted OpenAI-compatible server on loopback (a protocol
fixture, not a model) answering every request after ``--delay-s`` seconds, as a busy inference
server would. Every case grows the same chains into a fresh run directory and the answer is
checked: exactly the wanted chain ids, each stored once, every turn measured at p = 0.5.

Cases (interleaved rounds, medians):
- ``one_actor``: 1 actor growing ``--in-flight`` chains at once (the baseline);
- ``two_actors``: 2 actors, ``--in-flight`` chains each (what scaling out buys);
- ``one_actor_double``: 1 actor with 2 x ``--in-flight`` chains: the same concurrency as two
  actors in one process, to separate "more processes" from "more chains in flight".

Throughput is chains stored per second from the moment every actor is ready (actor start-up
is reported separately) to the last chain stored. Jobs are sharded by chain id, so with two
actors the run ends when the larger shard does: the split is reported, and runs are long
(64 chains) so that it stays close to even.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread

from _common import Report, check, interleave, median, parse_args
from stepstones.distributed import RayRunner, WorkerSpec, shard_of
from stepstones.llm import Endpoint
from stepstones.pipeline import (
    Config,
    Job,
    Manifest,
    RunStore,
    SamplingConfig,
    chain_id,
    read_chains,
)
from stepstones.records import Seed, content_hash
from stepstones.testing import Reply, ScriptedLLMServer, completion

CONFIG = Config(
    samples=4,
    max_turns=2,
    teacher_sampling=SamplingConfig(max_tokens=256),
    student_sampling=SamplingConfig(max_tokens=64),
)


class Play:
    """Scripted teacher (a new ``def f(x): return x + K`` per request) and student (right on
    half its samples), every reply after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self._k = itertools.count(1)

    def __call__(self, body: dict[str, Any]) -> Reply:
        if body["model"] == "teacher":
            k = next(self._k)
            inputs = "\n".join(f"```input\n{i}\n```" for i in range(1, 6))
            text = f"```python\ndef f(x):\n    return x + {k}\n```\n{inputs}\n"
            return Reply(body=completion([text]), delay_s=self.delay_s)
        prompt = body["messages"][-1]["content"]
        k = int(re.search(r"return x \+ (\d+)", prompt).group(1))  # type: ignore[union-attr]
        n = int(body.get("n", 1))
        texts = [f"```output\n{1 + k if i % 2 == 0 else -1}\n```" for i in range(n)]
        return Reply(body=completion(texts), delay_s=self.delay_s)


def jobs(n: int) -> list[Job]:
    out = []
    for i in range(n):
        text = f"def g{i}(x):\n    return x * {i} + 1\n"
        seed = Seed(id=content_hash(text), text=text, source="bench", start_line=1, end_line=2)
        out.append(Job(seed=seed, env="deduction", mode="adaptive"))
    return out


def main(argv: list[str] | None = None) -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--delay-s", type=float, default=0.2)
    extra.add_argument("--in-flight", type=int, default=4)
    own, rest = extra.parse_known_args(argv)
    args = parse_args("generation throughput over Ray: 1 vs 2 actors", rest)
    report = Report("distributed", args)
    try:
        import ray
    except ImportError:
        report.note("Ray is not installed (pip install 'stepstones[ray]'): nothing measured")
        return report.finish()
    chains = 8 if args.quick else 64
    wanted = jobs(chains)
    wanted_ids = {chain_id(j.seed, j.env, j.mode, CONFIG) for j in wanted}
    startup_s: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {}
    try:
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        with (
            anyio.from_thread.start_blocking_portal("asyncio") as portal,
            portal.wrap_async_context_manager(ScriptedLLMServer(Play(own.delay_s))) as srv,
        ):
            spec = WorkerSpec(
                teacher=Endpoint(base_url=srv.base_url, model="teacher"),
                student=Endpoint(base_url=srv.base_url, model="student"),
                config=CONFIG,
                envs=("deduction",),
                sandbox_workers=1,
            )

            def case(name: str, actors: int, in_flight: int) -> Any:
                def run() -> None:
                    out = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
                    try:
                        with RunStore.open(out, Manifest(config=CONFIG)) as store:
                            runner = RayRunner(
                                spec,
                                store=store,
                                actors=actors,
                                chains_in_flight=in_flight,
                                cpus_per_actor=0.5,
                            )
                            started = time.monotonic()
                            anyio.run(partial(runner.run, wanted, chains=chains), backend="asyncio")
                            ended = time.monotonic()
                        stored = list(read_chains(out))
                        ids = [c.id for c in stored]
                        check(len(ids) == len(set(ids)) == chains, f"{name}: {len(ids)} chains")
                        check(set(ids) == wanted_ids, f"{name}: wrong chain ids")
                        rates_ok = all(
                            [p.pass_rate for p in c.problems] == [0.5] * CONFIG.max_turns
                            for c in stored
                        )
                        check(rates_ok, f"{name}: a chain was not measured at p = 0.5 twice")
                        assert runner.ready_at is not None
                        startup_s.setdefault(name, []).append(runner.ready_at - started)
                        rates.setdefault(name, []).append(chains / (ended - runner.ready_at))
                    finally:
                        shutil.rmtree(out, ignore_errors=True)

                return run

            interleave(
                {
                    "one_actor": case("one_actor", 1, own.in_flight),
                    "two_actors": case("two_actors", 2, own.in_flight),
                    "one_actor_double": case("one_actor_double", 1, 2 * own.in_flight),
                },
                repeats=args.repeats,
                warmup=1,
            )
        # interleave's own timings include actor start-up; the rates below do not.
        n_timed = args.repeats
        med = {name: median(values[-n_timed:]) for name, values in rates.items()}
        for name in ("one_actor", "two_actors", "one_actor_double"):
            report.metric(f"{name}.chains_per_s", med[name])
            report.metric(f"{name}.startup_s", median(startup_s[name][-n_timed:]))
        report.ratio("two_actors_vs_one_actor", med["two_actors"], med["one_actor"], target=1.6)
        report.ratio("two_actors_vs_one_actor_double", med["two_actors"], med["one_actor_double"])
        report.extra.update(
            {
                "chains_per_run": chains,
                "delay_s": own.delay_s,
                "in_flight_per_actor": own.in_flight,
                "requests_per_chain": 2 * CONFIG.max_turns,
                "cluster_cpus": ray.cluster_resources().get("CPU"),
                "chains_per_shard_with_two_actors": [
                    sum(1 for i in wanted_ids if shard_of(i, 2) == k) for k in (0, 1)
                ],
            }
        )
        report.note(
            "throughput = chains / (last chain stored - all actors ready); the scripted server "
            f"answers every request after {own.delay_s} s, each chain makes "
            f"{2 * CONFIG.max_turns} requests in sequence"
        )
    except Exception as exc:
        return report.finish(exc)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
