"""The run store: whole-line appends, torn-line repair, resumption without loss or duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _pipeline_records import chain

from stepstones.errors import ConfigError, StoreError
from stepstones.pipeline import Config, Manifest, RunStore, read_chains, read_rejections
from stepstones.pipeline._store import CHAINS_FILE, MANIFEST_FILE, REJECTIONS_FILE

MANIFEST = Manifest(config=Config(), modes=("adaptive",), envs=("deduction",))


@pytest.mark.anyio
async def test_append_and_read_back(tmp_path: Path) -> None:
    with RunStore.open(tmp_path, MANIFEST) as store:
        assert await store.append(chain(1, [0.5, None, 0.25]))
        assert await store.append(chain(2, [None]))
        assert not await store.append(chain(1, [0.5, None, 0.25]))  # same id: not stored twice
        assert len(store) == 2
        assert "chain1-adaptive" in store
    chains = list(read_chains(tmp_path))
    assert [c.id for c in chains] == ["chain1-adaptive", "chain2-adaptive"]
    assert chains[0] == chain(1, [0.5, None, 0.25])
    entries = list(read_rejections(tmp_path))
    assert [(e.chain_id, e.turn) for e in entries] == [
        ("chain1-adaptive", 1),
        ("chain2-adaptive", 0),
    ]
    assert entries[0].decoded().reason == "No message found!"
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    assert manifest["config"]["samples"] == 32
    assert manifest["opened"] == 1


@pytest.mark.anyio
async def test_torn_last_line_is_dropped_on_open(tmp_path: Path) -> None:
    with RunStore.open(tmp_path, MANIFEST) as store:
        await store.append(chain(1, [0.5]))
    whole = (tmp_path / CHAINS_FILE).read_bytes()
    # The process died in the middle of writing the second chain.
    with (tmp_path / CHAINS_FILE).open("ab") as f:
        f.write(whole[: len(whole) // 2])
    assert [c.id for c in read_chains(tmp_path)] == ["chain1-adaptive"]  # readers skip it too
    with RunStore.open(tmp_path, MANIFEST) as store:
        assert len(store) == 1
        await store.append(chain(2, [0.75]))
    assert (tmp_path / CHAINS_FILE).read_bytes().count(b"\n") == 2
    assert [c.id for c in read_chains(tmp_path)] == ["chain1-adaptive", "chain2-adaptive"]
    assert json.loads((tmp_path / MANIFEST_FILE).read_text())["opened"] == 2


@pytest.mark.anyio
async def test_rejections_lost_after_the_chain_line_are_rewritten(tmp_path: Path) -> None:
    with RunStore.open(tmp_path, MANIFEST) as store:
        await store.append(chain(1, [None, None, 0.5]))
        await store.append(chain(2, [None, 0.5]))
    lines = (tmp_path / REJECTIONS_FILE).read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    # Killed after chain 2's line and after only part of the rejection lines hit the disk.
    (tmp_path / REJECTIONS_FILE).write_bytes(lines[0] + lines[1][:7])
    with RunStore.open(tmp_path, MANIFEST):
        pass
    entries = [(e.chain_id, e.turn) for e in read_rejections(tmp_path)]
    assert sorted(entries) == [
        ("chain1-adaptive", 0),
        ("chain1-adaptive", 1),
        ("chain2-adaptive", 0),
    ]
    assert len(entries) == len(set(entries))


def test_resuming_with_another_config_is_refused(tmp_path: Path) -> None:
    RunStore.open(tmp_path, MANIFEST).close()
    other = Manifest(config=Config(samples=8))
    with pytest.raises(ConfigError, match="different config"):
        RunStore.open(tmp_path, other)


def test_corrupt_complete_line_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / CHAINS_FILE).write_bytes(b'{"schema": 1, "type": "chain", "record": {}}\n')
    with pytest.raises(StoreError, match="line 1"):
        RunStore.open(tmp_path, MANIFEST)


def test_not_a_manifest(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_text("[]")
    with pytest.raises(StoreError, match="not a stepstones manifest"):
        RunStore.open(tmp_path, MANIFEST)


def test_unwritable_directory_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open run directory"):
        RunStore.open(blocker / "run", MANIFEST)
