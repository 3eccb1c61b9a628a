"""Counters and a latency histogram, rendered in the Prometheus text exposition format.

Kept in-process and lock-free: the server runs on one event loop, so plain ints suffice.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict

__all__ = ["Metrics"]

#: Upper bounds (seconds) of the request-latency histogram buckets.
_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """What the server counts: rewards by environment and outcome, requests by route and
    status, request latency, requests in flight and requests refused for backpressure."""

    def __init__(self) -> None:
        self.rewards: Counter[tuple[str, str]] = Counter()  # (env, outcome) -> n
        self.requests: Counter[tuple[str, int]] = Counter()  # (route, status) -> n
        self.latency_counts: Counter[tuple[str, int]] = Counter()  # (route, bucket index) -> n
        self.latency_sum_s: defaultdict[str, float] = defaultdict(float)
        self.grade_calls: Counter[str] = Counter()  # env -> grading calls
        self.graded_answers: Counter[str] = Counter()  # env -> answers in those calls
        self.in_flight = 0
        self.rejected_busy = 0

    def grade_call(self, env: str, answers: int) -> None:
        self.grade_calls[env] += 1
        self.graded_answers[env] += answers

    def reward(self, env: str, outcome: str) -> None:
        self.rewards[(env, outcome)] += 1

    def request(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] += 1
        self.latency_counts[(route, bisect.bisect_left(_BUCKETS_S, seconds))] += 1
        self.latency_sum_s[route] += seconds

    def render(self) -> str:
        lines = [
            "# HELP stepstones_rewards_total Rewards served, by environment and outcome.",
            "# TYPE stepstones_rewards_total counter",
        ]
        for (env, outcome), n in sorted(self.rewards.items()):
            lines.append(
                f'stepstones_rewards_total{{env="{_esc(env)}",outcome="{_esc(outcome)}"}} {n}'
            )
        lines += [
            "# HELP stepstones_grade_calls_total Grading calls (answers batched per problem).",
            "# TYPE stepstones_grade_calls_total counter",
        ]
        lines += [
            f'stepstones_grade_calls_total{{env="{_esc(e)}"}} {n}'
            for e, n in sorted(self.grade_calls.items())
        ]
        lines += [
            "# HELP stepstones_graded_answers_total Distinct answers graded in those calls.",
            "# TYPE stepstones_graded_answers_total counter",
        ]
        lines += [
            f'stepstones_graded_answers_total{{env="{_esc(e)}"}} {n}'
            for e, n in sorted(self.graded_answers.items())
        ]
        lines += [
            "# HELP stepstones_requests_total HTTP requests answered, by route and status.",
            "# TYPE stepstones_requests_total counter",
        ]
        for (route, status), n in sorted(self.requests.items()):
            lines.append(f'stepstones_requests_total{{route="{_esc(route)}",code="{status}"}} {n}')
        lines += [
            "# HELP stepstones_request_seconds Time from request start to response, seconds.",
            "# TYPE stepstones_request_seconds histogram",
        ]
        for route in sorted(self.latency_sum_s):
            cumulative = 0
            r = _esc(route)
            for i, bound in enumerate(_BUCKETS_S):
                cumulative += self.latency_counts[(route, i)]
                lines.append(
                    f'stepstones_request_seconds_bucket{{route="{r}",le="{bound}"}} {cumulative}'
                )
            total = cumulative + self.latency_counts[(route, len(_BUCKETS_S))]
            lines.append(f'stepstones_request_seconds_bucket{{route="{r}",le="+Inf"}} {total}')
            lines.append(
                f'stepstones_request_seconds_sum{{route="{r}"}} {self.latency_sum_s[route]:.6f}'
            )
            lines.append(f'stepstones_request_seconds_count{{route="{r}"}} {total}')
        lines += [
            "# HELP stepstones_requests_in_flight Requests being handled now.",
            "# TYPE stepstones_requests_in_flight gauge",
            f"stepstones_requests_in_flight {self.in_flight}",
            "# HELP stepstones_requests_rejected_busy_total Requests refused with 503 (busy).",
            "# TYPE stepstones_requests_rejected_busy_total counter",
            f"stepstones_requests_rejected_busy_total {self.rejected_busy}",
        ]
        return "\n".join(lines) + "\n"
