"""The live ledger of the reward server: recorded from real rewards, merged across writers by
time, crash-safe, bounded, and served at /ledger and /metrics."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import pytest
from _online_play import PROBLEMS, WRONG, right

from stepstones import records
from stepstones.records import Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import App, Config, Rewarder, Verdict, running
from stepstones.serve._ledger import Ledger, LedgerView, ResultsLine

PROMPT = "<|im_start|>user\nsolve it<|im_end|>\n<|im_start|>assistant\n"


def _label(p: Problem) -> str:
    return records.encode_json(p).decode()


def _verdict(passed: bool, outcome: str | None = None) -> Verdict:
    return Verdict(1.0 if passed else 0.0, outcome or ("pass" if passed else "wrong"), "why")


@pytest.mark.anyio
async def test_rewards_are_recorded_and_served(
    sandbox: Sandbox, base: dict[str, Problem], tmp_path: Path
) -> None:
    config = Config(port=0, ledger_dir=str(tmp_path / "ledger"), ledger_window=4)
    app = App(Rewarder(sandbox), config)
    easy, hard = base["easy"], base["hard"]
    items = [(right("easy"), easy)] * 3 + [(WRONG, easy)] + [(WRONG, hard), ("no code", hard)]
    items += [("anything", "not a label")]
    async with running(app) as url, httpx.AsyncClient(base_url=url) as client:
        for step, (completion, problem) in enumerate(items):
            label = problem if isinstance(problem, str) else _label(problem)
            reply = await client.post(
                "/get_reward",
                json={"query": [PROMPT + completion], "prompts": [PROMPT], "labels": [label],
                      "step": step},
            )  # fmt: skip
            assert reply.status_code == 200
        assert app.ledger is not None
        app.ledger.flush()
        listing = (await client.get("/ledger")).json()
        one = (await client.get(f"/ledger/{easy.id}")).json()
        too_hard = (await client.get("/ledger", params={"band": "too_hard"})).json()
        missing = await client.get("/ledger/nope")
        bad_band = await client.get("/ledger", params={"band": "sideways"})
        metrics = (await client.get("/metrics")).text
    by_id = {p["id"]: p for p in listing["problems"]}
    assert set(by_id) == {easy.id, hard.id}  # the bad label is the machinery's, not recorded
    assert by_id[easy.id]["n"] == 4 and by_id[easy.id]["pass_rate"] == 0.75
    assert by_id[easy.id]["band"] == "too_easy" and by_id[easy.id]["last_step"] == 3
    assert by_id[hard.id]["n"] == 2 and by_id[hard.id]["band"] == "warming"
    assert one["passing"] == [PROBLEMS["easy"][0]] * 2  # the newest two (examples=2)
    assert one["failing"][0][1] and one["problem"]["code"] == easy.code
    assert too_hard["problems"] == []
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert bad_band.status_code == 400 and "sideways" in bad_band.json()["error"]
    assert 'stepstones_ledger_problems{band="too_easy"} 1' in metrics
    assert 'stepstones_ledger_problems{band="warming"} 1' in metrics
    assert "stepstones_ledger_rollouts_total 6" in metrics


def test_replicas_merge_by_time_whatever_the_read_order(
    base: dict[str, Problem], tmp_path: Path
) -> None:
    """Two writers (two replicas) append interleaved results; a reader keeps the newest W by
    time, and a reader that saw one file first agrees with one that read both at once."""
    easy = base["easy"]
    first = Ledger(tmp_path, window=3)
    second = Ledger(tmp_path, window=3)
    try:
        # Times are the record times: first writer passes, second fails, interleaved.
        for i, writer in enumerate([first, second, first, second, first]):
            writer.record([(easy, [0])], ["x"], [_verdict(writer is first)], step=i)
            writer.flush()
    finally:
        first.close()
        second.close()
    together = LedgerView(tmp_path, window=3)
    together.refresh()
    stats = together.stats(easy.id)
    assert stats is not None and stats.total == 5 and stats.n == 3
    # The newest three by time: first(2), second(3), first(4) -> 2 of 3 passed.
    assert stats.n_passed == 2 and stats.last_step == 4
    # A reader that only had the second writer's file, then the first's, ends up the same.
    files = sorted(tmp_path.glob("*.jsonl"))
    staged = tmp_path / "staged"
    staged.mkdir()
    later = [f for f in files if f.name == second.path.name] + [
        f for f in files if f != second.path
    ]
    view = LedgerView(staged, window=3)
    for f in later:
        (staged / f.name).write_bytes(f.read_bytes())
        view.refresh()
    assert view.stats(easy.id) == stats


def test_a_torn_last_line_is_ignored_and_a_restart_sees_everything(
    base: dict[str, Problem], tmp_path: Path
) -> None:
    easy = base["easy"]
    ledger = Ledger(tmp_path, window=8)
    ledger.record([(easy, [0, 1])], ["a", "b"], [_verdict(True), _verdict(False)], step=1)
    ledger.close()
    # A writer killed mid-line: half a results line at the end of its own file.
    torn = msgspec.json.encode(ResultsLine(id=easy.id, t=1e12, r="1111"))
    with ledger.path.open("ab") as f:
        f.write(torn[: len(torn) // 2])
    restarted = Ledger(tmp_path, window=8)  # a new server process on the same run directory
    try:
        stats = restarted.view.stats(easy.id)
        assert stats is not None and stats.total == 2 and stats.n_passed == 1
        assert stats.problem == easy
        restarted.record([(easy, [0])], ["c"], [_verdict(True)], step=2)
        restarted.flush()
        stats = restarted.view.stats(easy.id)
        assert stats is not None and stats.total == 3 and stats.last_step == 2
    finally:
        restarted.close()


def test_a_full_queue_drops_and_counts_and_failures_of_the_machinery_are_not_the_policy(
    base: dict[str, Problem], tmp_path: Path
) -> None:
    easy = base["easy"]
    ledger = Ledger(tmp_path, window=4, max_queue=3, flush_interval_s=3600)
    try:
        verdicts = [_verdict(True)] * 2 + [_verdict(False, "sandbox_error")]
        ledger.record([(easy, [0, 1, 2])], ["a", "b", "c"], verdicts)  # 2 recorded
        ledger.record([(easy, [0, 1])], ["a", "b"], [_verdict(True)] * 2)  # would be 4 > 3
        assert ledger.dropped == 2
        ledger.flush()
        assert "stepstones_ledger_dropped_total 2" in ledger.metrics()
        stats = ledger.view.stats(easy.id)
        assert stats is not None and stats.total == 2
        ledger.record([(easy, [0])], ["d"], [_verdict(False)])  # room again after the flush
        ledger.flush()
        stats = ledger.view.stats(easy.id)
        assert stats is not None and stats.total == 3
    finally:
        ledger.close()


def test_examples_are_capped_in_bytes(base: dict[str, Problem], tmp_path: Path) -> None:
    easy = base["easy"]
    ledger = Ledger(tmp_path, window=4, example_bytes=100)
    try:
        long = "```python\ndef f(x):\n    return x + 1  # " + "é" * 500 + "\n```"
        ledger.record([(easy, [0])], [long], [_verdict(True)])
        ledger.flush()
        stats = ledger.view.stats(easy.id)
        assert stats is not None
        (kept,) = stats.passing
        assert len(kept.encode()) <= 100 and kept.endswith("[truncated]")
    finally:
        ledger.close()


@pytest.mark.anyio
async def test_verl_and_trl_rewards_through_the_server_reach_the_ledger(
    sandbox: Sandbox, base: dict[str, Problem], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import anyio

    from stepstones.online._remote import REWARD_URL_ENV, compute_score
    from stepstones.online.trl import RemoteReward

    config = Config(port=0, ledger_dir=str(tmp_path / "ledger"), ledger_window=4)
    app = App(Rewarder(sandbox), config)
    easy, label = base["easy"], _label(base["easy"])
    async with running(app) as url:
        trl = RemoteReward(url)
        state = type("State", (), {"global_step": 7})()
        conversation = [[{"role": "assistant", "content": right("easy")}], WRONG]
        got = await trl(["p", "p"], conversation, label=[label, label], trainer_state=state)
        monkeypatch.setenv(REWARD_URL_ENV, url)
        score = await anyio.to_thread.run_sync(
            lambda: compute_score("stepstones/induction/all", right("easy"), label)
        )
        assert app.ledger is not None
        app.ledger.flush()
        stats = app.ledger.view.stats(easy.id)
    assert got == [1.0, 0.0] and score == 1.0
    assert stats is not None and stats.total == 3 and stats.n_passed == 2
    assert stats.last_step == 7  # TRL's step; verl's compute_score sends none


def test_a_failing_disk_drops_and_counts_and_the_queue_keeps_its_room(
    base: dict[str, Problem], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import os

    easy = base["easy"]
    ledger = Ledger(tmp_path, window=4, max_queue=2, flush_interval_s=3600)
    good_fd = ledger._fd
    ledger._fd = os.open(os.devnull, os.O_RDONLY)  # every write now fails (EBADF), as on EIO
    try:
        ledger.record([(easy, [0, 1])], ["a", "b"], [_verdict(True)] * 2)
        ledger.flush()
        assert ledger.dropped == 2 and "cannot write" in caplog.text
        os.close(ledger._fd)
        ledger._fd = good_fd  # the disk is back: the queue has its full room again
        ledger.record([(easy, [0, 1])], ["a", "b"], [_verdict(True)] * 2)
        ledger.flush()
        stats = ledger.view.stats(easy.id)
        assert ledger.dropped == 2 and stats is not None and stats.total == 2
        assert stats.problem == easy  # its record was written with the first lines that landed
    finally:
        ledger.close()


@pytest.mark.anyio
async def test_two_replicas_serve_one_merged_ledger(
    sandbox: Sandbox, base: dict[str, Problem], tmp_path: Path
) -> None:
    """Two servers on one ledger directory (replicas on a shared directory, as `serve --ray`
    starts them with one Config): each answers GET /ledger with both one's rollouts."""
    config = Config(port=0, ledger_dir=str(tmp_path / "ledger"), ledger_window=4)
    first, second = App(Rewarder(sandbox), config), App(Rewarder(sandbox), config)
    easy = base["easy"]
    body = {"query": [PROMPT + right("easy")], "prompts": [PROMPT], "labels": [_label(easy)]}
    async with running(first) as url1, running(second) as url2, httpx.AsyncClient() as client:
        for url, n in ((url1, 3), (url2, 2)):
            for _ in range(n):
                assert (await client.post(f"{url}/get_reward", json=body)).status_code == 200
        for app in (first, second):
            assert app.ledger is not None
            app.ledger.flush()
        for app in (first, second):  # each refreshes the other's file too
            assert app.ledger is not None
            app.ledger.flush()
        totals = [(await client.get(f"{u}/ledger/{easy.id}")).json()["total"] for u in (url1, url2)]
    assert totals == [5, 5]
    assert len(list((tmp_path / "ledger").glob("*.jsonl"))) == 2
