"""What the reward server counts, exposed with ``prometheus_client`` in the Prometheus text format.

Each :class:`Metrics` has its own :class:`~prometheus_client.CollectorRegistry`, never the
process-wide default one: tests, benchmarks and an embedding program may run several servers in
one process, and a trainer process may export its own metrics already. The registry also holds
the process and platform collectors (CPU seconds, resident memory, open fds, Python version),
which dashboards expect next to the server's own series.

Several replicas (``stepstones serve --ray``, one server per node) are several processes, each
with its own ``/metrics``: scrape every URL of the urls file and aggregate in PromQL
(``sum by (env, outcome) (rate(stepstones_rewards_total[1m]))``); the scrape's ``instance``
label tells the replicas apart, so no multiprocess mode or shared files are needed.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = ["CONTENT_TYPE", "Metrics"]

#: The content type of :meth:`Metrics.render` (Prometheus text exposition format 0.0.4).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds (seconds) of the request-latency histogram buckets.
_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """What the server counts: rewards by environment and outcome, grading calls and the
    answers in them, requests by route and status, request latency, requests in flight and
    requests refused for backpressure.

    ``in_flight`` is a plain int the server adjusts (the gauge reads it at scrape time, so the
    request path pays nothing for it). :meth:`value` reads any sample back (tests, health
    checks).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.in_flight = 0
        r = self.registry
        self._rewards = Counter(
            "stepstones_rewards",
            "Rewards served, by environment and outcome.",
            ["env", "outcome"],
            registry=r,
        )
        self._grade_calls = Counter(
            "stepstones_grade_calls",
            "Grading calls (answers batched per problem).",
            ["env"],
            registry=r,
        )
        self._graded_answers = Counter(
            "stepstones_graded_answers",
            "Distinct answers graded in those calls.",
            ["env"],
            registry=r,
        )
        self._requests = Counter(
            "stepstones_requests",
            "HTTP requests answered, by route and status.",
            ["route", "code"],
            registry=r,
        )
        self._latency = Histogram(
            "stepstones_request_seconds",
            "Time from request start to response, seconds.",
            ["route"],
            buckets=_BUCKETS_S,
            registry=r,
        )
        in_flight = Gauge(
            "stepstones_requests_in_flight", "Requests being handled now.", registry=r
        )
        in_flight.set_function(lambda: self.in_flight)
        self._busy = Counter(
            "stepstones_requests_rejected_busy",
            "Requests refused with 503 (busy).",
            registry=r,
        )
        self._env_children: dict[str, tuple[Counter, Counter]] = {}
        self._reward_children: dict[tuple[str, str], Counter] = {}
        self._request_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

    # Children are looked up once per label set: ``labels()`` validates and locks on every call,
    # which costs more than the increment itself on the request path.
    def grade_call(self, env: str, answers: int) -> None:
        pair = self._env_children.get(env)
        if pair is None:
            pair = self._env_children[env] = (
                self._grade_calls.labels(env),
                self._graded_answers.labels(env),
            )
        pair[0].inc()
        pair[1].inc(answers)

    def reward(self, env: str, outcome: str) -> None:
        child = self._reward_children.get((env, outcome))
        if child is None:
            child = self._reward_children[(env, outcome)] = self._rewards.labels(env, outcome)
        child.inc()

    def request(self, route: str, status: int, seconds: float) -> None:
        pair = self._request_children.get((route, status))
        if pair is None:
            pair = self._request_children[(route, status)] = (
                self._requests.labels(route, str(status)),
                self._latency.labels(route),
            )
        pair[0].inc()
        pair[1].observe(seconds)

    def refused_busy(self) -> None:
        """One request refused with 503 because ``max_pending_requests`` were being handled."""
        self._busy.inc()

    def value(self, name: str, **labels: str) -> float:
        """The current value of sample ``name`` with exactly ``labels`` (0.0 if never set)."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else found

    def render(self) -> str:
        """Every metric in the Prometheus text exposition format (:data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry).decode()
