"""The sandbox: run untrusted Python fast, isolated, and get what happened back as data.

A :class:`Sandbox` keeps a few small *zygote* processes (one per core by default), each started
once inside its own namespaces with the stdlib preloaded; every job is one fork of a zygote,
locked down by a fixed child recipe (rlimits, a non-root uid, Landlock, no_new_privs, seccomp)
and supervised from outside. Jobs are :class:`Script` (run source as ``__main__``) or
:class:`Call` (call one function on many literal argument lists); each gives an
:class:`Outcome`. Nothing the untrusted code does raises: only machinery failures do
(:class:`stepstones.errors.SandboxError` and its subclasses).
"""

from __future__ import annotations

from stepstones.sandbox._engine import Sandbox, close_shared_sandbox, shared_sandbox
from stepstones.sandbox._types import (
    Call,
    CallResult,
    Capabilities,
    Job,
    Limits,
    Outcome,
    Script,
    Status,
)

__all__ = [
    "Call",
    "CallResult",
    "Capabilities",
    "Job",
    "Limits",
    "Outcome",
    "Sandbox",
    "Script",
    "Status",
    "close_shared_sandbox",
    "shared_sandbox",
]
