"""When to retry a failed request and how long to wait first: a pure function of its inputs.

Follows openai-python's policy: retry 408, 409, 429 and 5xx statuses and connection errors;
honour ``retry-after-ms`` then ``retry-after`` (seconds or an HTTP date) when it is between 0 and
60 s; otherwise back off exponentially, 0.5 s x 2^n capped at ``max_delay_s``, shortened by up to
``jitter`` of itself so that many clients retrying together spread out.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping

import msgspec

from stepstones.errors import ConfigError

__all__ = ["RetryPolicy", "is_retryable_status", "retry_after_s", "retry_delay_s"]

_MAX_RETRY_AFTER_S = 60.0


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Bounded retries. ``max_attempts`` counts the first try (1 = never retry)."""

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not 0 <= self.base_delay_s <= self.max_delay_s:
            raise ConfigError(
                f"need 0 <= base_delay_s <= max_delay_s, got {self.base_delay_s} and "
                f"{self.max_delay_s}"
            )
        if not 0 <= self.jitter < 1:
            raise ConfigError(f"jitter must be in [0, 1), got {self.jitter}")


def is_retryable_status(status_code: int) -> bool:
    """408 (timeout), 409 (conflict), 429 (rate limit) and every 5xx are worth another try."""
    return status_code in (408, 409, 429) or 500 <= status_code <= 599


def retry_after_s(headers: Mapping[str, str], now_s: float) -> float | None:
    """The wait the server asked for, in seconds, or ``None`` if it asked for none usable.

    ``headers`` must have lower-case names. ``now_s`` is the current Unix time, used when
    ``retry-after`` is an HTTP date. Values outside (0, 60] s are ignored, as openai-python does.
    """
    wait: float | None = None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            wait = float(ms) / 1000.0
        except ValueError:
            wait = None
    if wait is None:
        text = headers.get("retry-after")
        if text is not None:
            try:
                wait = float(text)
            except ValueError:
                try:
                    when = email.utils.parsedate_to_datetime(text)
                except (TypeError, ValueError, IndexError):
                    when = None
                if when is not None and when.tzinfo is not None:
                    wait = when.timestamp() - now_s
    if wait is None or math.isnan(wait) or not 0 < wait <= _MAX_RETRY_AFTER_S:
        return None
    return wait


def retry_delay_s(
    policy: RetryPolicy,
    attempt: int,
    *,
    status_code: int | None,
    headers: Mapping[str, str],
    now_s: float,
    rand: float,
) -> float | None:
    """Seconds to wait before the next try, or ``None`` to give up.

    attempt: how many tries were made so far (>= 1).
    status_code: the HTTP status of the failed try, or ``None`` for a connection error.
    headers: its response headers (lower-case names; empty for a connection error).
    rand: a uniform number in [0, 1) that picks the jitter (the caller draws it).
    """
    if attempt >= policy.max_attempts:
        return None
    if status_code is not None and not is_retryable_status(status_code):
        return None
    asked = retry_after_s(headers, now_s)
    if asked is not None:
        return asked
    backoff = min(policy.base_delay_s * 2.0 ** (attempt - 1), policy.max_delay_s)
    return backoff * (1.0 - policy.jitter * rand)
