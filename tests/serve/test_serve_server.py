"""The reward server, really listening on loopback, grading in the real sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest
from _prom import sample
from _serve_problems import ANSWERS

from stepstones import envs, records
from stepstones.records import ENVIRONMENTS, Draft, Env, Problem
from stepstones.sandbox import Sandbox
from stepstones.serve import OUTCOMES, App, Config, Rewarder, running

pytestmark = pytest.mark.anyio

PROMPT = "<|im_start|>user\nsolve it<|im_end|>\n<|im_start|>assistant\n"


def _label(p: Problem) -> str:
    return records.encode_json(p).decode()


def _app(sandbox: Sandbox, **cfg: object) -> App:
    config = Config(port=0, **cfg)  # type: ignore[arg-type]
    rewarder = Rewarder(
        sandbox,
        max_concurrent_grades=config.max_concurrent_grades,
        grade_timeout_s=config.grade_timeout_s,
        batch_window_s=config.batch_window_s,
        max_batch=config.max_batch,
    )
    return App(rewarder, config)


def _payload(items: list[tuple[str, Problem | str]]) -> dict[str, list[str]]:
    return {
        "query": [PROMPT + completion + "<|im_end|>" for completion, _ in items],
        "prompts": [PROMPT] * len(items),
        "labels": [lab if isinstance(lab, str) else _label(lab) for _, lab in items],
    }


async def _until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    with anyio.fail_after(timeout_s):
        while not condition():  # noqa: ASYNC110 - polls the server's state from outside
            await anyio.sleep(0.005)


async def test_right_and_wrong_answers_in_every_environment(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    items: list[tuple[str, Problem | str]] = []
    expected: list[float] = []
    for env in ENVIRONMENTS:
        right, wrong = ANSWERS[env]
        items += [(right, problems[env]), (wrong, problems[env]), ("no block here", problems[env])]
        expected += [1.0, 0.0, 0.0]
    async with running(_app(sandbox)) as url, httpx.AsyncClient(base_url=url, timeout=60) as c:
        r = await c.post("/get_reward", json=_payload(items))
    assert r.status_code == 200
    body = r.json()
    assert body["rewards"] == expected
    assert body["scores"] == expected
    logs = body["extra_logs"]
    assert set(logs) == set(OUTCOMES)
    assert all(len(v) == len(items) for v in logs.values())
    assert all(isinstance(x, float) for v in logs.values() for x in v)
    assert sum(logs["pass"]) == 4
    assert sum(logs["wrong"]) == 4
    assert sum(logs["no_answer"]) == 4


async def test_one_item_per_request_many_at_once(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    results: dict[int, float] = {}
    cases = [(i, ENVIRONMENTS[i % 4], i % 2 == 0) for i in range(48)]

    async def one(c: httpx.AsyncClient, i: int, env: Env, right: bool) -> None:
        completion = ANSWERS[env][0 if right else 1]
        r = await c.post("/get_reward", json=_payload([(completion, problems[env])]))
        assert r.status_code == 200
        results[i] = r.json()["rewards"][0]

    async with running(_app(sandbox)) as url:
        # A new connection per request, as OpenRLHF's client does.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with (
            httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c,
            anyio.create_task_group() as tg,
        ):
            for case in cases:
                tg.start_soon(one, c, *case)
    assert results == {i: 1.0 if right else 0.0 for i, _, right in cases}


async def test_bad_labels_score_zero_without_failing_the_request(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    right = ANSWERS["deduction"][0]
    items: list[tuple[str, Problem | str]] = [
        (right, "not a label"),
        (right, problems["deduction"]),
        (right, '{"schema": 1, "type": "problem", "record": {"id": "x"}}'),
    ]
    async with running(_app(sandbox)) as url, httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/get_reward", json=_payload(items))
        metrics = (await c.get("/metrics")).text
    assert r.status_code == 200
    assert r.json()["rewards"] == [0.0, 1.0, 0.0]
    assert r.json()["extra_logs"]["bad_label"] == [1.0, 0.0, 1.0]
    assert sample(metrics, "stepstones_rewards_total", env="unknown", outcome="bad_label") == 2
    assert sample(metrics, "stepstones_rewards_total", env="deduction", outcome="pass") == 1
    assert sample(metrics, "stepstones_requests_total", route="/get_reward", code="200") == 1


async def test_an_endless_answer_scores_zero_as_a_timeout(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    spin = "```python\ndef f(x):\n    while True:\n        pass\n```"
    items: list[tuple[str, Problem | str]] = [(spin, problems["induction"])]
    async with (
        running(_app(sandbox)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as c,
    ):
        r = await c.post("/get_reward", json=_payload(items))
    assert r.status_code == 200
    assert r.json()["rewards"] == [0.0]
    assert r.json()["extra_logs"]["timeout"] == [1.0]


async def test_the_grading_deadline_scores_zero(sandbox: Sandbox) -> None:
    """Past grade_timeout_s the grade is cancelled (its sandbox child killed): 0.0."""
    slow_sum = "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
    draft = Draft(env="abduction", code=slow_sum, inputs=("1", "2", "3", "4", "5"))
    problem = await envs.get("abduction").validate(draft, sandbox)
    assert isinstance(problem, Problem)
    items: list[tuple[str, Problem | str]] = [("```input\n100000000\n```", problem)]
    async with (
        running(_app(sandbox, grade_timeout_s=0.5)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as c,
    ):
        started = anyio.current_time()
        r = await c.post("/get_reward", json=_payload(items))
        elapsed = anyio.current_time() - started
    assert r.status_code == 200
    assert r.json()["rewards"] == [0.0]
    assert r.json()["extra_logs"]["grade_timeout"] == [1.0]
    assert elapsed < 1.9  # the sandbox's own 2 s CPU limit did not decide it


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"query": "x", "labels": []}', 422, "Expected `array`"),
        (b'{"query": ["x"]}', 422, "labels is required"),
        (b'{"query": ["x", "y"], "labels": ["a"]}', 422, "same length"),
        (b'{"query": ["x"], "prompts": [], "labels": ["a"]}', 422, "same length"),
        # Labels nested 100,000 deep: a clear 400, not a 500 from a RecursionError.
        (b'{"query": ["x"], "labels": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", 400, "deep"),
    ],
)
async def test_bad_requests_get_a_clear_4xx(
    sandbox: Sandbox, content: bytes, status: int, message: str
) -> None:
    async with running(_app(sandbox)) as url, httpx.AsyncClient(base_url=url) as c:
        r = await c.post("/get_reward", content=content)
    assert r.status_code == status
    assert message in r.json()["error"]


async def test_limits_methods_routes_and_empty_batches(sandbox: Sandbox) -> None:
    async with (
        running(_app(sandbox, max_body_kib=1, max_items=2)) as url,
        httpx.AsyncClient(base_url=url) as c,
    ):
        big = await c.post("/get_reward", json={"query": ["x" * 2000], "labels": ["a"]})
        assert big.status_code == 413
        assert "max_body_kib" in big.json()["error"]
        many = await c.post("/get_reward", json={"query": ["a"] * 3, "labels": ["a"] * 3})
        assert many.status_code == 413
        assert (await c.get("/get_reward")).status_code == 405
        assert (await c.get("/nope")).status_code == 404
        empty = await c.post("/get_reward", json={"query": [], "labels": []})
        assert empty.status_code == 200
        assert empty.json()["rewards"] == []
        assert (await c.get("/healthz")).json() == {"status": "ok"}


async def test_bearer_token(sandbox: Sandbox, problems: dict[Env, Problem]) -> None:
    body = _payload([(ANSWERS["deduction"][0], problems["deduction"])])
    async with (
        running(_app(sandbox, token="s3cret")) as url,
        httpx.AsyncClient(base_url=url) as c,
    ):
        assert (await c.get("/healthz")).status_code == 200  # liveness needs no token
        denied = await c.post("/get_reward", json=body)
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"] == "Bearer"
        assert denied.headers["content-type"] == "application/json"
        wrong = await c.post("/get_reward", json=body, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        assert (await c.get("/metrics")).status_code == 401
        ok = await c.post("/get_reward", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert ok.json()["rewards"] == [1.0]
        # The scheme in any case (RFC 9110 §11.1), one or more spaces before the token.
        for given in ("bearer s3cret", "BEARER s3cret", "Bearer   s3cret"):
            r = await c.post("/get_reward", json=body, headers={"Authorization": given})
            assert r.status_code == 200, given
        # The token exactly: nothing added, nothing missing, no other scheme. (Whitespace at
        # the very end of a header is not part of its value, RFC 9110 §5.5: HTTP itself
        # removes it before any application sees it.)
        for given in (
            "Bearer s3cret x",
            "Bearer s3cretx",
            "Bearer s3cre",
            "Basic s3cret",
            "s3cret",
        ):
            r = await c.post("/get_reward", json=body, headers={"Authorization": given})
            assert r.status_code == 401, given
            assert r.headers["connection"] == "close"
        two = [("Authorization", "Bearer s3cret"), ("Authorization", "Bearer x")]
        assert (await c.post("/get_reward", json=body, headers=two)).status_code == 401


async def test_backpressure_refuses_past_max_pending(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    """A request still sending its body holds its pending slot; the next one gets 503."""
    release = anyio.Event()
    sent_first_chunk = anyio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b'{"query": ["x"], '
        sent_first_chunk.set()
        await release.wait()
        yield b'"labels": ["y"]}'

    body = _payload([(ANSWERS["deduction"][0], problems["deduction"])])
    app = _app(sandbox, max_pending_requests=1)
    async with (
        running(app) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as c,
    ):
        slow: list[httpx.Response] = []

        async def send_slow() -> None:
            slow.append(await c.post("/get_reward", content=slow_body()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(send_slow)
            await sent_first_chunk.wait()
            await _until(lambda: app._pending == 1)  # the server is reading the slow body
            busy = await c.post("/get_reward", json=body)
            release.set()
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert slow[0].status_code == 200
        assert slow[0].json()["extra_logs"]["bad_label"] == [1.0]
        again = await c.post("/get_reward", json=body)
        assert again.status_code == 200
        assert again.json()["rewards"] == [1.0]
        metrics = (await c.get("/metrics")).text
    assert sample(metrics, "stepstones_requests_rejected_busy_total") == 1


async def test_graceful_shutdown_finishes_in_flight_requests(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    slow_right = (
        "```python\ndef f(x):\n    s = 0\n    for i in range(5_000_000):\n        s += i\n"
        "    return 2 * x + 1\n```"
    )
    body = _payload([(slow_right, problems["induction"])])
    got: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=60) as c, anyio.create_task_group() as tg:

        async def post(url: str) -> None:
            got.append(await c.post(url + "/get_reward", json=body))

        app = _app(sandbox)
        async with running(app) as url:
            tg.start_soon(post, url)
            await _until(lambda: app.metrics.in_flight == 1)  # the answer is being graded now
            assert not got
        # Leaving `running` asked the server to exit and waited for it: the in-flight request
        # was answered before it stopped, and nothing listens any more.
        with pytest.raises(httpx.ConnectError):
            await c.get(url + "/healthz")
    assert got[0].status_code == 200
    assert got[0].json()["rewards"] == [1.0]


async def test_run_code_speaks_sandboxfusion(sandbox: Sandbox) -> None:
    async with running(_app(sandbox)) as url, httpx.AsyncClient(base_url=url, timeout=30) as c:
        ok = (
            await c.post("/run_code", json={"code": "print(input()[::-1])", "stdin": "abc\n"})
        ).json()
        assert ok["status"] == "Success"
        assert ok["run_result"]["status"] == "Finished"
        assert ok["run_result"]["return_code"] == 0
        assert ok["run_result"]["stdout"] == "cba\n"
        err = (await c.post("/run_code", json={"code": "raise ValueError('no')"})).json()
        assert err["status"] == "Failed"
        assert err["run_result"]["status"] == "Finished"
        assert err["run_result"]["return_code"] != 0
        assert "ValueError" in err["run_result"]["stderr"]
        loop = {"code": "while True: pass", "run_timeout": 1}
        slow = (await c.post("/run_code", json=loop)).json()
        assert slow["status"] == "Failed"
        assert slow["run_result"]["status"] == "TimeLimitExceeded"
        net = "import socket\nsocket.create_connection(('127.0.0.1', 9))"
        denied = (await c.post("/run_code", json={"code": net})).json()
        assert denied["status"] == "Failed"
        cpp = await c.post("/run_code", json={"code": "int main(){}", "language": "cpp"})
        assert cpp.status_code == 400
        assert "Python only" in cpp.json()["error"]


async def _trickle(port: int, head: bytes, trickle: bytes) -> bytes:
    """Open a connection, send ``head`` at once and then ``trickle`` one byte every 50 ms;
    return what the server answered once it closed the connection."""
    got = bytearray()
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:

        async def dribble(scope: anyio.CancelScope) -> None:
            with scope:
                for i in range(len(trickle)):
                    try:
                        await stream.send(trickle[i : i + 1])
                    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                        return
                    await anyio.sleep(0.05)

        async with anyio.create_task_group() as tg:
            if head:
                await stream.send(head)
            scope = anyio.CancelScope()
            tg.start_soon(dribble, scope)
            try:
                while True:
                    got += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
            scope.cancel()
    return bytes(got)


async def test_slow_clients_are_dropped_and_valid_requests_still_succeed(
    sandbox: Sandbox, problems: dict[Env, Problem]
) -> None:
    """Connections that never finish their headers, and authenticated requests that trickle
    their bodies while holding every pending slot, are answered 408 and closed; then a valid
    request gets its reward. (Before the deadlines existed they were held forever.)"""
    payload = _payload([(ANSWERS["deduction"][0], problems["deduction"])])
    body = httpx.Request("POST", "http://x", json=payload).content
    auth = b"Authorization: Bearer s3cret\r\n"
    app = _app(
        sandbox, token="s3cret", max_pending_requests=2, header_timeout_s=1.0, body_timeout_s=1.0
    )
    answers: list[bytes] = []
    async with running(app) as url:
        port = int(url.rsplit(":", 1)[1])
        post = b"POST /get_reward HTTP/1.1\r\nHost: x\r\n"
        body_head = post + auth + b"Content-Length: %d\r\n\r\n" % len(body)

        async def one(head: bytes, trickle: bytes) -> None:
            answers.append(await _trickle(port, head, trickle))

        with anyio.fail_after(30):  # far past both deadlines: only a server that never drops
            async with anyio.create_task_group() as tg:
                for _ in range(2):  # every pending slot held by a slow body
                    tg.start_soon(one, body_head, body)
                await _until(lambda: app._pending == 2)
                for _ in range(8):  # headers trickled byte by byte
                    tg.start_soon(one, b"", post + auth + b"X-Slow: " + b"a" * 10_000)
                for _ in range(8):  # connections that never send a byte
                    tg.start_soon(one, b"", b"")
        assert len(answers) == 18
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:40] for a in answers}
        assert sum(b"body_timeout_s" in a for a in answers) == 2
        assert sum(b"header_timeout_s" in a for a in answers) == 16
        assert app._pending == 0
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            ok = await c.post(
                "/get_reward", json=payload, headers={"Authorization": "Bearer s3cret"}
            )
            metrics = (await c.get("/metrics", headers={"Authorization": "Bearer s3cret"})).text
    assert ok.status_code == 200
    assert ok.json()["rewards"] == [1.0]
    # The cut-off bodies are counted as what they were answered, 408.
    assert sample(metrics, "stepstones_requests_total", route="/get_reward", code="408") == 2


async def test_big_requests_are_cut_off_the_event_loop(
    sandbox: Sandbox, problems: dict[Env, Problem], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reward request of degenerate text is parsed in a worker thread (every step is linear,
    but the loop must keep answering /healthz meanwhile); small ones stay on the loop."""
    import threading

    from stepstones.serve import _cut

    threads: list[bool] = []
    real = _cut.cut_response

    def spy(query: str, prompt: str | None) -> _cut.Cut:
        threads.append(threading.current_thread() is threading.main_thread())
        return real(query, prompt)

    monkeypatch.setattr(_cut, "cut_response", spy)
    right = ANSWERS["deduction"][0]
    soup = "<think>hmm</think>" * 20_000 + right  # 360 kB of a policy repeating itself
    async with running(_app(sandbox)) as url, httpx.AsyncClient(base_url=url, timeout=60) as c:
        small = await c.post("/get_reward", json=_payload([(right, problems["deduction"])]))
        big = await c.post("/get_reward", json=_payload([(soup, problems["deduction"])]))
    assert small.json()["rewards"] == [1.0]
    assert big.json()["rewards"] == [1.0]
    assert threads == [True, False]
