"""Test fixtures for code that talks to LLMs: a scripted OpenAI-compatible server on loopback.

These are fixtures for protocol tests (retries, timeouts, malformed replies, ``n`` handling),
public so that users can test their own pipelines with them. They are not model servers.
"""

from __future__ import annotations

from stepstones.testing._reply import Reply, Request, completion
from stepstones.testing._server import Handler, ScriptedLLMServer

__all__ = ["Handler", "Reply", "Request", "ScriptedLLMServer", "completion"]
