"""Fixtures of the distributed tests: anyio on asyncio, a local Ray cluster started by the
tests themselves (two nodes of one CPU each on this machine), seeds and a scripted LLM server.

The nodes start with one variable more than this process: ``NODE_KEY_ENV``, an API key exported
on every node as an operator would before ``ray start``, and gone from the driver's environment.

The scripted teacher/student in _distributed_play.py is a protocol fixture on loopback, not a
model.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from _distributed_play import NODE_KEY, NODE_KEY_ENV


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _RayCluster:
    """The session's Ray cluster, started by the first test that asks for it and stopped
    after the last test of this directory, so that no Ray process (a child of pytest) is
    alive while the rest of the suite runs (the sandbox tests count pytest's children)."""

    def __init__(self) -> None:
        self.cluster: Any = None

    def start(self) -> Any:
        if self.cluster is None:
            ray: ModuleType = pytest.importorskip(
                "ray", reason="needs the Ray extra: pip install 'stepstones[ray]'"
            )
            from ray.cluster_utils import Cluster

            cluster = _start_nodes(Cluster)
            try:
                ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
            except BaseException:
                cluster.shutdown()
                raise
            self.cluster = cluster
        return self.cluster

    def stop(self) -> None:
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            import ray

            try:
                ray.shutdown()
            finally:
                cluster.shutdown()


def _start_nodes(cluster_class: Any) -> Any:
    """Two one-CPU nodes whose processes have ``NODE_KEY_ENV``; this process does not keep it."""
    os.environ[NODE_KEY_ENV] = NODE_KEY
    cluster = None
    try:
        cluster = cluster_class(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "include_dashboard": False},
        )
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
    except BaseException:
        if cluster is not None:
            cluster.shutdown()
        raise
    finally:
        del os.environ[NODE_KEY_ENV]
    return cluster


_RAY = _RayCluster()
_HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A Ray cluster of two one-CPU nodes on this machine, shared by this directory's tests
    and joined by this process (the driver)."""
    try:
        yield _RAY.start()
    finally:
        _RAY.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After this directory's last test (and its fixtures' teardown), stop the cluster."""
    yield
    if nextitem is None or _HERE not in nextitem.path.resolve().parents:
        _RAY.stop()
