"""Reward serving: an HTTP reward server for OpenRLHF (and a SandboxFusion-compatible
``/run_code`` for verl), plus in-process reward functions for OpenRLHF, verl and TRL.

Every reward is computed by executing code in the stepstones sandbox; a label is the exported
:class:`~stepstones.records.Problem`. Failures score 0.0 with a logged reason, never an error
the trainer would crash on. Errors raised here (:class:`~stepstones.errors.LabelError`,
:class:`~stepstones.errors.RunCodeError`, :class:`~stepstones.errors.ServeError`...) live in
:mod:`stepstones.errors`.
"""

from __future__ import annotations

from stepstones.serve._app import App, Request
from stepstones.serve._config import Config
from stepstones.serve._cut import Cut, cut_response, strip_special
from stepstones.serve._hooks import compute_score, reward_func, trl_reward
from stepstones.serve._labels import parse_label
from stepstones.serve._metrics import Metrics
from stepstones.serve._rewarder import OUTCOMES, Rewarder, Verdict
from stepstones.serve._runcode import RunCodeRequest, outcome_to_response
from stepstones.serve._server import running

__all__ = [
    "OUTCOMES",
    "App",
    "Config",
    "Cut",
    "Metrics",
    "Request",
    "Rewarder",
    "RunCodeRequest",
    "Verdict",
    "compute_score",
    "cut_response",
    "outcome_to_response",
    "parse_label",
    "reward_func",
    "running",
    "strip_special",
    "trl_reward",
]
