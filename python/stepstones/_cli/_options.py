"""Option types more than one subcommand takes (light: no pipeline, sandbox or LLM import)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stepstones.errors import ConfigError
from stepstones.records import ENVIRONMENTS

if TYPE_CHECKING:
    from stepstones.llm import Endpoint
    from stepstones.pipeline import Config

__all__ = ["add_endpoint_options", "choices", "endpoint", "env_list", "local_or_file_config"]


def choices(text: str, allowed: Sequence[str], what: str) -> list[str]:
    """A comma-separated list of names from ``allowed``, in order, without repeats."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError(
            f"{what} must be a comma-separated list of {', '.join(allowed)}; got {text!r}"
        )
    return list(dict.fromkeys(items))


def env_list(text: str) -> list[str]:
    """``--env induction,deduction``: environments, as ``generate`` and ``export`` take them."""
    return choices(text, ENVIRONMENTS, "--env")


def add_endpoint_options(
    group: argparse._ActionsContainer, *, max_requests: int, request_timeout_s: float | None = None
) -> None:
    """The teacher/student endpoint options every subcommand that calls an LLM takes.

    ``request_timeout_s`` adds ``--request-timeout-s`` with that default (commands whose
    endpoints may share a busy server need a longer deadline than the client's default).
    """
    group.add_argument(
        "--endpoints",
        default=None,
        help="TOML with [teacher]/[student] tables: base_url, model, api_key_env, max_concurrency",
    )
    group.add_argument("--teacher-url", default=None, help="teacher API root, e.g. .../v1")
    group.add_argument("--teacher-model", default=None, help="teacher model name")
    group.add_argument("--student-url", default=None, help="student API root (default: teacher's)")
    group.add_argument("--student-model", default=None, help="student model name")
    group.add_argument(
        "--max-requests", type=int, default=max_requests, help="requests in flight per endpoint"
    )
    if request_timeout_s is not None:
        group.add_argument(
            "--request-timeout-s",
            type=float,
            default=request_timeout_s,
            help="deadline of one request to --teacher-url/--student-url in seconds",
        )


def endpoint(
    url: str | None,
    model: str | None,
    role: str,
    max_requests: int,
    timeout_s: float | None = None,
) -> Endpoint | None:
    """``--{role}-url``/``--{role}-model`` as an :class:`~stepstones.llm.Endpoint` (None: neither
    given, so the environment or the embedded model decides)."""
    from stepstones.llm import Endpoint  # noqa: PLC0415 - keep the CLI's import light

    if url is None and model is None:
        return None
    if url is None or model is None:
        raise ConfigError(f"--{role}-url and --{role}-model go together; give both")
    if timeout_s is None:
        return Endpoint(base_url=url, model=model, max_concurrency=max_requests)
    return Endpoint(base_url=url, model=model, max_concurrency=max_requests, timeout_s=timeout_s)


def local_or_file_config(config_file: str | None, *, local_model: bool) -> Config:
    """--config, else $STEPSTONES_CONFIG, else the defaults (the small embedded-model defaults
    when the embedded model runs)."""
    from stepstones.pipeline._config import CONFIG_ENV, load_config  # noqa: PLC0415
    from stepstones.pipeline._generate import LOCAL_CONFIG  # noqa: PLC0415

    if config_file is not None:
        return load_config(config_file)
    if local_model and not os.environ.get(CONFIG_ENV):
        return LOCAL_CONFIG
    return load_config()
