"""Online mode end to end on the CPU: a trainer-shaped loop, a real ``stepstones serve --ledger``
and a real ``stepstones online`` beside it, both killed with SIGKILL on the way.

The policy, the teacher and the student are one scripted OpenAI-compatible server (a protocol
fixture, see _online_play.py): the policy always solves ``easy`` and never ``hard``. The loop
does what a GRPO trainer does each step: it takes P prompts from its dataset (TRL's live
dataset rows, drawn from the live pool), samples G answers per prompt and posts each answer to
the reward server as OpenRLHF does (one item per request, with the step).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from _online_play import World

from stepstones.online import read_stones, read_tries
from stepstones.online.trl import LiveTRL
from stepstones.records import Problem
from stepstones.testing import ScriptedLLMServer

pytestmark = pytest.mark.anyio

W = 4  # window: rollouts before a problem's live pass rate counts
G = 4  # answers per prompt
P = 2  # prompts per step
PROMPT = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
DEADLINE_S = 90.0


class Proc:
    """A ``stepstones`` subprocess in its own process group, its output in a log file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "stepstones.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def crash(self) -> None:
        """SIGKILL the main process only, as a crash would (its sandbox zygotes go with it)."""
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)  # anything it left behind


async def _until(
    what: str, condition: Callable[[], bool], step: Callable[[], Any] | None = None
) -> None:
    """Wait for ``condition`` (running a training step between checks, if given)."""
    with anyio.fail_after(DEADLINE_S):
        while not condition():
            if step is not None:
                await step()
            else:
                await anyio.sleep(0.05)


async def _serve(run: Path, log: Path) -> tuple[Proc, str]:
    proc = Proc(
        ["serve", "--port", "0", "--ledger", str(run), "--ledger-window", str(W),
         "--workers", "1", "--log-level", "warning"],
        log,
    )  # fmt: skip
    found: list[str] = []

    def listening() -> bool:
        if proc.popen.poll() is not None:
            raise AssertionError(f"serve exited:\n{log.read_text()}")
        found[:] = re.findall(r"rewards at (http://\S+)/get_reward", log.read_text())
        return bool(found)

    await _until("serve listens", listening)
    return proc, found[-1]


def _online(run: Path, llm_url: str, log: Path) -> Proc:
    return Proc(
        ["online", str(run), "--teacher-url", llm_url, "--teacher-model", "scripted",
         "--window", str(W), "--samples", "4", "--poll-interval-s", "0.2",
         "--concurrency", "2", "--sandbox-workers", "1"],
        log,
    )  # fmt: skip


class Trainer:
    """The trainer-shaped loop: P prompts a step from the live dataset, G answers each."""

    def __init__(self, live: LiveTRL, llm_url: str) -> None:
        self.live = live
        self.rows: Iterator[dict[str, Any]] = live.rows()
        self.llm_url = llm_url
        self.reward_url = ""
        self.step = 0
        self.posted: dict[str, int] = {}  # problem id -> rollouts rewarded
        self.sampled: list[str] = []

    async def __call__(self) -> None:
        self.step += 1
        async with httpx.AsyncClient(timeout=60) as client:
            for _ in range(P):
                row = next(self.rows)
                self.sampled.append(row["problem_id"])
                reply = await client.post(
                    f"{self.llm_url}/chat/completions",
                    json={"model": "policy", "messages": row["prompt"], "n": G},
                )
                prompt = PROMPT.format(row["prompt"][-1]["content"])
                for choice in reply.json()["choices"]:
                    answer = choice["message"]["content"]
                    body = {"query": [prompt + answer], "prompts": [prompt],
                            "labels": [row["label"]], "step": self.step}  # fmt: skip
                    got = await client.post(f"{self.reward_url}/get_reward", json=body)
                    assert got.status_code == 200 and len(got.json()["rewards"]) == 1
                    self.posted[row["problem_id"]] = self.posted.get(row["problem_id"], 0) + 1

    async def ledger(self) -> dict[str, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as client:
            listing = (await client.get(f"{self.reward_url}/ledger")).json()
        return {p["id"]: p for p in listing["problems"]}


async def test_stones_grow_from_the_live_policy_and_crashes_lose_nothing(
    base: dict[str, Problem], tmp_path: Path
) -> None:
    easy, hard = base["easy"], base["hard"]
    run = tmp_path / "run"
    run.mkdir()
    world = World()
    world.hold = {("hard", "EASIER variant")}  # keep that turn in flight until released
    procs: list[Proc] = []
    try:
        async with ScriptedLLMServer(world) as llm:
            serve, url = await _serve(run, tmp_path / "serve.log")
            procs.append(serve)
            online = _online(run, llm.base_url, tmp_path / "online.log")
            procs.append(online)
            trainer = Trainer(LiveTRL(run, [easy, hard], window=W, refresh_every=1), llm.base_url)
            trainer.reward_url = url

            def harder_sampled() -> bool:
                stones = [s for s in read_stones(run) if s.parent_id == easy.id]
                return bool(stones) and trainer.sampled.count(stones[0].id) >= 1

            # The policy outgrows `easy`: a harder stone enters the pool and gets sampled, while
            # the easier turn for `hard` hangs at the teacher.
            await _until("a harder stone is sampled", harder_sampled, trainer)
            await _until("the easier turn is in flight",
                         lambda: ("hard", "EASIER variant") in world.teacher_requests)  # fmt: skip

            # Kill the online teacher with that turn in flight: the pool keeps what it had.
            before = read_stones(run)
            online.crash()
            assert read_stones(run) == before and len(before) == 1
            (harder,) = before
            assert (harder.instruction, harder.chain, harder.root_id) == (
                "harder",
                (easy.id,),
                easy.id,
            )
            assert harder.parent_pass_rate == 1.0 and harder.viable

            # Kill the reward server once the ledger holds every reward it answered.
            async def flushed() -> bool:
                ledger = await trainer.ledger()
                return all(ledger.get(k, {}).get("total") == n for k, n in trainer.posted.items())

            async def all_flushed() -> None:
                with anyio.fail_after(DEADLINE_S):
                    while not await flushed():  # noqa: ASYNC110 - polls the server from outside
                        await anyio.sleep(0.05)

            await all_flushed()
            seen_before = await trainer.ledger()
            serve.crash()
            serve, trainer.reward_url = await _serve(run, tmp_path / "serve2.log")
            procs.append(serve)
            seen_after = await trainer.ledger()
            assert {k: v["total"] for k, v in seen_after.items()} == {
                k: v["total"] for k, v in seen_before.items()
            }

            # A new online teacher resumes: the easier turn is asked again and lands.
            world.release.set()
            procs.append(_online(run, llm.base_url, tmp_path / "online2.log"))

            def easier_sampled() -> bool:
                stones = [s for s in read_stones(run) if s.parent_id == hard.id]
                return bool(stones) and trainer.sampled.count(stones[0].id) >= 1

            await _until("an easier stone is sampled", easier_sampled, trainer)
            await _until("both stones have a window of rollouts",
                         lambda: all(trainer.posted.get(s.id, 0) >= W for s in read_stones(run)),
                         trainer)  # fmt: skip
            await all_flushed()
            ledger = await trainer.ledger()
    finally:
        for proc in procs:
            proc.stop()
    stones = read_stones(run)
    assert [s.instruction for s in stones] == ["harder", "easier"]
    assert len({s.id for s in stones}) == 2 and stones[0] == harder
    easier = stones[1]
    assert (easier.parent_id, easier.chain, easier.parent_pass_rate) == (hard.id, (hard.id,), 0.0)
    assert [t.outcome for t in read_tries(run)] == ["stone", "stone"]
    # The live policy solves each stone half of the time: both land in the band.
    assert ledger[easy.id]["band"] == "too_easy" and ledger[hard.id]["band"] == "too_hard"
    assert ledger[harder.id]["band"] == "in_band" and ledger[easier.id]["band"] == "in_band"
    # The old problems were not starved while the stones were new.
    assert trainer.sampled.count(easy.id) >= 2 and trainer.sampled.count(hard.id) >= 2
