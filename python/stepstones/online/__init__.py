"""Online mode: the teacher in the loop with the policy being trained (docs/design.md §9).

The reward server keeps a live ledger of the policy's results per problem
(:mod:`stepstones.serve._ledger`, ``stepstones serve --ledger RUN_DIR``); the online teacher
(:class:`OnlineTeacher`, ``stepstones online RUN_DIR``) rewrites problems whose live pass rate
left the band into new stones of a live pool (:class:`LivePool`); trainers draw from base
problems plus that pool through a :class:`LiveSchedule`: verl with
:mod:`stepstones.online.verl`, TRL with :mod:`stepstones.online.trl`, OpenRLHF by regenerating
each chained stage with :func:`next_stage`.
"""

from __future__ import annotations

from stepstones.online._frame import LiveFrame
from stepstones.online._pool import LivePool, PoolReader, Stone, Try, read_stones, read_tries
from stepstones.online._schedule import LiveSchedule, base_from_labels
from stepstones.online._stage import next_stage
from stepstones.online._teacher import OnlineSettings, OnlineTeacher, live_summary

__all__ = [
    "LiveFrame",
    "LivePool",
    "LiveSchedule",
    "OnlineSettings",
    "OnlineTeacher",
    "PoolReader",
    "Stone",
    "Try",
    "base_from_labels",
    "live_summary",
    "next_stage",
    "read_stones",
    "read_tries",
]
