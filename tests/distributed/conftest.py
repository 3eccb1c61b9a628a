"""Fixtures of the distributed tests: anyio on asyncio, a local Ray cluster started by the
tests themselves (two nodes of one CPU each on this machine), seeds and a scripted LLM server.

The scripted teacher/student in _distributed_play.py is a protocol fixture on loopback, not a
model.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A Ray cluster of two one-CPU nodes on this machine, started once for the session and
    joined by this process (the driver)."""
    ray: ModuleType = pytest.importorskip(
        "ray", reason="needs the Ray extra: pip install 'stepstones[ray]'"
    )
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
