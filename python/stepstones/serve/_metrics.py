"""What the reward server counts, exposed with ``prometheus_client`` in the Prometheus text format.

Each :class:`Metrics` has its own :class:`~prometheus_client.CollectorRegistry`, never the
process-wide default one: tests, benchmarks and an embedding program may run several servers in
one process, and a trainer process may export its own metrics already. The registry also holds
the process and platform collectors (CPU seconds, resident memory, open fds, Python version),
which dashboards expect next to the server's own series.

The request path only adds to plain dicts and ints (the server runs on one event loop); a custom
collector turns them into metric families when ``/metrics`` is scraped. prometheus_client's own
``Counter``/``Histogram`` objects validate and lock on every update, which measured several
microseconds per request on the reward path; its exposition, escaping and content types are
used as they are.

Several replicas (``stepstones serve --ray``, one server per node) are several processes, each
with its own ``/metrics``: scrape every URL of the urls file and aggregate in PromQL
(``sum by (env, outcome) (rate(stepstones_rewards_total[1m]))``); the scrape's ``instance``
label tells the replicas apart, so no multiprocess mode or shared files are needed.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "Metrics"]

#: The content type of :meth:`Metrics.render` (Prometheus text exposition format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds (seconds) of the request-latency histogram buckets.
_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """What the server counts: rewards by environment and outcome, grading calls and the
    answers in them, requests by route and status, request latency, requests in flight and
    requests refused for backpressure.

    ``in_flight`` is a plain int the server adjusts. :meth:`value` reads any sample back
    (tests, health checks); :meth:`render` is the text ``/metrics`` serves.
    """

    def __init__(self) -> None:
        self.in_flight = 0
        self.rejected_busy = 0
        self._rewards: Counter[tuple[str, str]] = Counter()  # (env, outcome) -> n
        self._grade_calls: Counter[str] = Counter()  # env -> grading calls
        self._graded_answers: Counter[str] = Counter()  # env -> answers in those calls
        self._requests: Counter[tuple[str, int]] = Counter()  # (route, status) -> n
        self._latency: dict[str, list[int]] = {}  # route -> count per bucket (+Inf last)
        self._latency_sum_s: defaultdict[str, float] = defaultdict(float)
        self.registry = CollectorRegistry()
        self.registry.register(_Families(self))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def grade_call(self, env: str, answers: int) -> None:
        self._grade_calls[env] += 1
        self._graded_answers[env] += answers

    def reward(self, env: str, outcome: str) -> None:
        self._rewards[(env, outcome)] += 1

    def request(self, route: str, status: int, seconds: float) -> None:
        self._requests[(route, status)] += 1
        counts = self._latency.get(route)
        if counts is None:
            counts = self._latency[route] = [0] * (len(_BUCKETS_S) + 1)
        counts[bisect.bisect_left(_BUCKETS_S, seconds)] += 1
        self._latency_sum_s[route] += seconds

    def refused_busy(self) -> None:
        """One request refused with 503 because ``max_pending_requests`` were being handled."""
        self.rejected_busy += 1

    def value(self, name: str, **labels: str) -> float:
        """The current value of sample ``name`` with exactly ``labels`` (0.0 if never set)."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry).decode()


class _Families(Collector):
    """The server's counts as metric families, built at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        rewards = CounterMetricFamily(
            "stepstones_rewards",
            "Rewards served, by environment and outcome.",
            labels=["env", "outcome"],
        )
        for (env, outcome), n in sorted(m._rewards.items()):
            rewards.add_metric([env, outcome], n)
        yield rewards
        calls = CounterMetricFamily(
            "stepstones_grade_calls", "Grading calls (answers batched per problem).", labels=["env"]
        )
        for env, n in sorted(m._grade_calls.items()):
            calls.add_metric([env], n)
        yield calls
        answers = CounterMetricFamily(
            "stepstones_graded_answers", "Distinct answers graded in those calls.", labels=["env"]
        )
        for env, n in sorted(m._graded_answers.items()):
            answers.add_metric([env], n)
        yield answers
        requests = CounterMetricFamily(
            "stepstones_requests",
            "HTTP requests answered, by route and status.",
            labels=["route", "code"],
        )
        for (route, status), n in sorted(m._requests.items()):
            requests.add_metric([route, str(status)], n)
        yield requests
        latency = HistogramMetricFamily(
            "stepstones_request_seconds",
            "Time from request start to response, seconds.",
            labels=["route"],
        )
        for route, counts in sorted(m._latency.items()):
            cumulative, buckets = 0, []
            for bound, n in zip((*map(str, _BUCKETS_S), "+Inf"), counts, strict=True):
                cumulative += n
                buckets.append((bound, cumulative))
            latency.add_metric([route], buckets, m._latency_sum_s[route])
        yield latency
        yield GaugeMetricFamily(
            "stepstones_requests_in_flight", "Requests being handled now.", value=m.in_flight
        )
        yield CounterMetricFamily(
            "stepstones_requests_rejected_busy",
            "Requests refused with 503 (busy).",
            value=m.rejected_busy,
        )
