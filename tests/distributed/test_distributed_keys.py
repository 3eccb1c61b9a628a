"""API keys reach actors by the name of their variable, never inside the pickled spec.

The scripted server (a protocol fixture on loopback) records the Authorization header of every
request, so the tests see which key each actor really sent.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from _distributed_play import CONFIG, NODE_KEY, NODE_KEY_ENV, Play, seeds, worker_spec

from stepstones.distributed import GenerationWorker, RayRunner, WorkerSpec
from stepstones.distributed._keys import key_env_of
from stepstones.distributed._worker import encode_job
from stepstones.errors import ConfigError
from stepstones.llm import Endpoint
from stepstones.pipeline import Job, Manifest, RunStore, read_chains
from stepstones.testing import ScriptedLLMServer

pytestmark = pytest.mark.timeout(240)

KEY = "sk-driver-secret-7d2e41"
URL = "http://127.0.0.1:9/v1"


def keyed_spec(url: str, key: str, *, key_env: str | None) -> WorkerSpec:
    endpoint = Endpoint(base_url=url, model="teacher", api_key=key)
    return worker_spec(
        url, teacher=endpoint, student=endpoint, teacher_key_env=key_env, student_key_env=key_env
    )


def test_the_pickled_spec_names_the_variable_and_holds_no_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ray.cloudpickle

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    spec = keyed_spec(URL, KEY, key_env="OPENAI_API_KEY")
    for data in (pickle.dumps(spec), ray.cloudpickle.dumps(spec)):  # Ray pickles with the latter
        assert KEY.encode() not in data
        assert b"OPENAI_API_KEY" in data
        assert pickle.loads(data) == spec
    assert spec.teacher.api_key is None and spec.student.api_key is None
    assert KEY not in repr(spec)
    teacher, student = spec.endpoints()  # on a node that has the variable
    assert teacher.api_key == student.api_key == KEY


def test_a_literal_key_still_works_and_stays_out_of_repr() -> None:
    spec = keyed_spec(URL, KEY, key_env=None)
    assert KEY not in repr(spec) and KEY not in str(spec)
    assert pickle.loads(pickle.dumps(spec)).endpoints()[0].api_key == KEY  # sent as it is


def test_spec_refuses_a_name_that_is_no_variable() -> None:
    with pytest.raises(ConfigError, match="teacher_key_env must name an environment variable"):
        keyed_spec(URL, KEY, key_env="")


def test_key_env_of_finds_the_variable_that_holds_exactly_the_key(tmp_path: Path) -> None:
    teacher = Endpoint(base_url=URL, model="m", api_key=KEY)
    env = {"OPENAI_API_KEY": KEY, "STEPSTONES_API_KEY": "other", "MY_KEY": KEY}
    assert key_env_of(teacher, "teacher", env=env) == "OPENAI_API_KEY"
    env["STEPSTONES_TEACHER_API_KEY"] = KEY
    assert key_env_of(teacher, "teacher", env=env) == "STEPSTONES_TEACHER_API_KEY"
    # The student falls back to the teacher's endpoint: the teacher's variable is found too.
    only_teacher = {"STEPSTONES_TEACHER_API_KEY": KEY}
    assert key_env_of(teacher, "student", env=only_teacher) == "STEPSTONES_TEACHER_API_KEY"
    file = tmp_path / "endpoints.toml"
    file.write_text('[teacher]\nbase_url = "http://h/v1"\nmodel = "m"\napi_key_env = "MY_KEY"\n')
    assert key_env_of(teacher, "teacher", endpoints_file=file, env=env) == "MY_KEY"
    # Given literally (no variable holds it), or no key at all: no name.
    assert key_env_of(teacher, "teacher", env={"OPENAI_API_KEY": "other"}) is None
    assert key_env_of(Endpoint(base_url=URL, model="m"), "teacher", env=env) is None


@pytest.mark.anyio
async def test_an_actor_without_the_variable_says_which_one_to_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STEPSTONES_TEST_UNSET_KEY", raising=False)
    worker = GenerationWorker(keyed_spec(URL, KEY, key_env="STEPSTONES_TEST_UNSET_KEY"))
    with pytest.raises(ConfigError, match=r"\$STEPSTONES_TEST_UNSET_KEY .* not set") as info:
        await worker.ready()
    assert KEY not in str(info.value)
    await worker.close()


@pytest.mark.anyio
async def test_a_worker_sends_the_key_of_its_own_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STEPSTONES_TEST_WORKER_KEY", "sk-this-node")
    async with ScriptedLLMServer(Play()) as srv:
        worker = GenerationWorker(
            keyed_spec(srv.base_url, KEY, key_env="STEPSTONES_TEST_WORKER_KEY")
        )
        try:
            await worker.grow(encode_job(Job(seeds(1)[0], "deduction", "adaptive")))
        finally:
            await worker.close()
    assert srv.requests
    assert {r.headers.get("authorization") for r in srv.requests} == {"Bearer sk-this-node"}


@pytest.mark.anyio
async def test_ray_actors_read_the_key_on_their_node(ray_cluster: Any, tmp_path: Path) -> None:
    """The key lives only in the nodes' environment (conftest.py): not in this driver's, not in
    the spec, yet every request the actors make carries it."""
    assert NODE_KEY_ENV not in os.environ
    async with ScriptedLLMServer(Play()) as srv:
        spec = keyed_spec(srv.base_url, "sk-stale-driver-copy", key_env=NODE_KEY_ENV)
        assert NODE_KEY.encode() not in pickle.dumps(spec)
        with RunStore.open(tmp_path, Manifest(config=CONFIG)) as store:
            runner = RayRunner(spec, store=store, actors=1, cpus_per_actor=0.5)
            jobs = [Job(seed=s, env="deduction", mode="adaptive") for s in seeds(2)]
            result = await runner.run(jobs, chains=2)
    assert (result.stored, result.failed) == (2, 0)
    assert len(list(read_chains(tmp_path))) == 2
    assert {r.headers.get("authorization") for r in srv.requests} == {f"Bearer {NODE_KEY}"}
