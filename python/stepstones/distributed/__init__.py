"""Beyond one machine, on Ray (the cluster OpenRLHF already runs on): sharded generation and
reward-server replicas. Needs the optional extra: ``pip install 'stepstones[ray]'``.

Generation: :class:`RayRunner` shards jobs by chain id over Ray actors, each with its own
event loop, sandbox and LLM clients (:class:`GenerationWorker`); only the driver writes the
:class:`~stepstones.pipeline.RunStore`, so a run keeps the single-machine resume guarantees and
an actor that dies has its unfinished chains grown again by a fresh one. A problem is accepted
only once in the whole run, whichever actor proposes it (the driver's problem ledger), as on one
machine. ``stepstones generate --ray ADDRESS`` drives it (:func:`run_on_ray`, with the
settings the one CLI layer, ``stepstones._cli``, builds for local and Ray runs alike).

Rewards: :class:`RewardReplicas` starts one reward server per node (:class:`RewardReplica`)
and gives the comma-separated URL list that OpenRLHF's ``--reward.remote_url`` takes
(``stepstones serve --ray ADDRESS``: :func:`serve_on_ray`).

:func:`check_endpoint` (:func:`stepstones.llm.check_endpoint`, re-exported here) fails fast,
in one sentence, when no server answers at an endpoint or it does not serve the model (every
run checks its endpoints before starting actors).

Ray itself is imported only when one of these runs, never by ``import stepstones``.
"""

from __future__ import annotations

from stepstones.distributed._driver import RayRunner
from stepstones.distributed._generate_cli import run_on_ray
from stepstones.distributed._preflight import check_endpoint
from stepstones.distributed._ray import LOCAL, connect, require_ray
from stepstones.distributed._replicas import ReplicaSettings, RewardReplica, RewardReplicas
from stepstones.distributed._serve_cli import serve_on_ray
from stepstones.distributed._shard import shard_of
from stepstones.distributed._worker import GenerationWorker, WorkerSpec

__all__ = [
    "LOCAL",
    "GenerationWorker",
    "RayRunner",
    "ReplicaSettings",
    "RewardReplica",
    "RewardReplicas",
    "WorkerSpec",
    "check_endpoint",
    "connect",
    "require_ray",
    "run_on_ray",
    "serve_on_ray",
    "shard_of",
]
