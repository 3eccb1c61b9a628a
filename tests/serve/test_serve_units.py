"""Labels, metrics, config and the SandboxFusion response mapping (no server needed)."""

from __future__ import annotations

import json

import msgspec
import pytest
from _prom import sample
from _serve_problems import make_problem

from stepstones import records
from stepstones.errors import ConfigError, LabelError
from stepstones.sandbox import Outcome
from stepstones.serve import Config, Metrics, outcome_to_response, parse_label
from stepstones.serve._labels import LabelCache


def test_labels_in_every_accepted_shape() -> None:
    prob = make_problem()
    text = records.encode_json(prob).decode()
    assert parse_label(text) == prob
    assert parse_label(text.encode()) == prob
    assert parse_label(json.loads(text)) == prob
    assert parse_label(msgspec.to_builtins(prob)) == prob
    with pytest.raises(LabelError, match="not a stepstones problem"):
        parse_label("42")
    with pytest.raises(LabelError, match="not valid JSON"):
        parse_label("{oops")
    with pytest.raises(LabelError, match="not a valid problem"):
        parse_label({"env": "deduction"})
    with pytest.raises(LabelError, match="must be JSON text or an object"):
        parse_label(None)
    newer = json.loads(text) | {"schema": 99}
    with pytest.raises(LabelError, match="upgrade"):
        parse_label(newer)


def test_labels_nested_too_deeply_are_label_errors() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(LabelError, match="nested too deeply"):
        parse_label('{"schema": 1, "type": "problem", "record": ' + deep + "}")
    nested: list[object] = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(LabelError, match="nested too deeply"):
        parse_label({"schema": 1, "type": "problem", "record": nested})


def test_the_label_cache_is_bounded_in_bytes_and_keeps_no_label_text() -> None:
    prob = make_problem()
    text = records.encode_json(prob).decode()
    cache = LabelCache(max_entries=1000, max_bytes=8 * 1024)
    # The same problem padded with a megabyte of JSON whitespace, 12 ways: all valid labels.
    padded = [text[:1] + " " * (1 << 20) + "\n" * i + text[1:] for i in range(12)]
    for label in padded:
        assert parse_label(label, cache=cache) == prob
    assert cache.bytes <= cache.max_bytes
    one = 16 + len(msgspec.json.encode(prob)) + 512  # digest, problem, overhead: not the text
    assert len(cache) == min(12, cache.max_bytes // one)
    # Long texts are keyed by 16-byte digests: nothing of the padded texts is kept.
    assert all(isinstance(key, bytes) and len(key) == 16 for key in cache._entries)
    # A hit returns the cached object; the least recently used entry goes first.
    first = parse_label(padded[-1], cache=cache)
    assert parse_label(padded[-1], cache=cache) is first
    small = LabelCache(max_entries=2)
    a, b, c = (records.encode_json(prob).decode() + " " * i for i in range(3))
    pa = parse_label(a, cache=small)
    parse_label(b, cache=small)
    assert parse_label(a, cache=small) is pa  # a is now the most recently used
    parse_label(c, cache=small)  # evicts b
    assert parse_label(a, cache=small) is pa
    assert len(small) == 2
    assert small.get(small.key(b)) is None


def test_metrics_render_prometheus_text() -> None:
    m = Metrics()
    m.reward("deduction", "pass")
    m.reward("deduction", "pass")
    m.reward("induction", "timeout")
    m.request("/get_reward", 200, 0.003)
    m.request("/get_reward", 200, 40.0)
    m.refused_busy()
    m.in_flight = 3
    text = m.render()
    assert sample(text, "stepstones_rewards_total", env="deduction", outcome="pass") == 2
    assert sample(text, "stepstones_rewards_total", env="induction", outcome="timeout") == 1
    assert sample(text, "stepstones_requests_total", route="/get_reward", code="200") == 2
    bucket = "stepstones_request_seconds_bucket"
    assert sample(text, bucket, route="/get_reward", le="0.0025") == 0
    assert sample(text, bucket, route="/get_reward", le="0.005") == 1
    assert sample(text, bucket, route="/get_reward", le="30.0") == 1
    assert sample(text, bucket, route="/get_reward", le="+Inf") == 2
    assert sample(text, "stepstones_request_seconds_count", route="/get_reward") == 2
    assert sample(text, "stepstones_requests_in_flight") == 3
    assert sample(text, "stepstones_requests_rejected_busy_total") == 1
    assert m.value("stepstones_rewards_total", env="deduction", outcome="pass") == 2
    # Process metrics come along; each server has its own registry, so two never collide.
    assert sample(text, "process_cpu_seconds_total") is not None
    fresh = Metrics().render()
    assert sample(fresh, "stepstones_rewards_total", env="deduction", outcome="pass") is None
    assert Metrics().value("stepstones_rewards_total", env="deduction", outcome="pass") == 0


def test_config_validates_and_hides_the_token() -> None:
    cfg = Config(token="s3cret")
    assert "s3cret" not in repr(cfg)
    assert cfg.host == "127.0.0.1"
    with pytest.raises(ConfigError, match="max_items must be >= 1"):
        Config(max_items=0)
    with pytest.raises(ConfigError, match="grade_timeout_s"):
        Config(grade_timeout_s=0)
    with pytest.raises(ConfigError, match="token must not be empty"):
        Config(token=" ")
    with pytest.raises(ConfigError, match="header_timeout_s must be > 0 seconds"):
        Config(header_timeout_s=0)
    with pytest.raises(ConfigError, match="body_timeout_s"):
        Config(body_timeout_s=float("nan"))


@pytest.mark.parametrize(
    ("outcome", "status", "run_status", "code"),
    [
        (Outcome(status="ok", stdout="6\n"), "Success", "Finished", 0),
        (Outcome(status="runtime_error", exit_code=1, stderr="Traceback"), "Failed", "Finished", 1),
        (Outcome(status="timeout"), "Failed", "TimeLimitExceeded", None),
        (Outcome(status="memory_limit", exit_code=1), "Failed", "Error", 1),
        (Outcome(status="signal", signal=11), "Failed", "Error", -11),
    ],
)
def test_sandboxfusion_response_mapping(
    outcome: Outcome, status: str, run_status: str, code: int | None
) -> None:
    resp = outcome_to_response(outcome)
    assert resp["status"] == status
    assert resp["compile_result"] is None
    assert resp["run_result"]["status"] == run_status
    assert resp["run_result"]["return_code"] == code
    assert resp["run_result"]["stdout"] == outcome.stdout


def test_sandbox_failure_maps_to_sandbox_error() -> None:
    resp = outcome_to_response(Outcome(status="sandbox_failure", detail="zygote died"))
    assert resp == {
        "status": "SandboxError",
        "message": "zygote died",
        "compile_result": None,
        "run_result": None,
        "executor_pod_name": None,
        "files": {},
    }
