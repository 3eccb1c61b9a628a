"""The retry policy is a pure function; these properties pin it down."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepstones.errors import ConfigError
from stepstones.llm import RetryPolicy, is_retryable_status, retry_after_s, retry_delay_s

NOW = 1_800_000_000.0
policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 10),
    base_delay_s=st.floats(0.0, 2.0),
    max_delay_s=st.floats(2.0, 60.0),
    jitter=st.floats(0.0, 0.99),
)
statuses = st.integers(100, 599)
rands = st.floats(0.0, 1.0, exclude_max=True)


def test_retryable_statuses() -> None:
    assert [s for s in range(100, 600) if is_retryable_status(s)] == [
        408,
        409,
        429,
        *range(500, 600),
    ]


@given(policies, st.integers(1, 20), st.one_of(st.none(), statuses), rands)
def test_bounded_and_only_retryable(
    policy: RetryPolicy, attempt: int, status: int | None, rand: float
) -> None:
    delay = retry_delay_s(policy, attempt, status_code=status, headers={}, now_s=NOW, rand=rand)
    if attempt >= policy.max_attempts or (status is not None and not is_retryable_status(status)):
        assert delay is None
    else:
        assert delay is not None
        assert 0.0 <= delay <= policy.max_delay_s
        full = min(policy.base_delay_s * 2 ** (attempt - 1), policy.max_delay_s)
        assert full * (1 - policy.jitter) - 1e-9 <= delay <= full + 1e-9


@given(st.integers(1, 8), rands)
def test_backoff_doubles_from_half_a_second(attempt: int, rand: float) -> None:
    policy = RetryPolicy(max_attempts=10, max_delay_s=8.0, jitter=0.0)
    delay = retry_delay_s(policy, attempt, status_code=503, headers={}, now_s=NOW, rand=rand)
    assert delay == min(0.5 * 2 ** (attempt - 1), 8.0)


@given(st.floats(0.001, 60.0), rands)
def test_retry_after_seconds_is_honoured(wait: float, rand: float) -> None:
    headers = {"retry-after": repr(wait)}
    delay = retry_delay_s(RetryPolicy(), 1, status_code=429, headers=headers, now_s=NOW, rand=rand)
    assert delay == wait


@given(st.integers(1, 60_000), st.floats(0.001, 60.0))
def test_retry_after_ms_wins_over_retry_after(ms: int, seconds: float) -> None:
    headers = {"retry-after-ms": str(ms), "retry-after": repr(seconds)}
    assert retry_after_s(headers, NOW) == ms / 1000


@given(st.integers(1, 60))
def test_retry_after_http_date(seconds: int) -> None:
    when = email.utils.formatdate(NOW + seconds, usegmt=True)
    got = retry_after_s({"retry-after": when}, NOW)
    assert got is not None and abs(got - seconds) < 1.0


@given(st.one_of(st.floats(max_value=0.0), st.floats(min_value=60.001), st.text(max_size=8)))
def test_unusable_retry_after_falls_back_to_backoff(value: float | str) -> None:
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, str):
        try:
            if 0 < float(value) <= 60:
                return
        except ValueError:
            pass
    assert retry_after_s({"retry-after": text}, NOW) is None
    policy = RetryPolicy(jitter=0.0)
    delay = retry_delay_s(
        policy, 2, status_code=500, headers={"retry-after": text}, now_s=NOW, rand=0.5
    )
    assert delay == 1.0


def test_non_retryable_status_ignores_retry_after() -> None:
    headers = {"retry-after": "1"}
    assert (
        retry_delay_s(RetryPolicy(), 1, status_code=400, headers=headers, now_s=NOW, rand=0) is None
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"base_delay_s": 5.0, "max_delay_s": 1.0}, "base_delay_s"),
        ({"jitter": 1.0}, "jitter"),
    ],
)
def test_policy_validation(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
