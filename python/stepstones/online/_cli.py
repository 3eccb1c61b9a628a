"""``stepstones online RUN_DIR``: the online teacher beside a running trainer.

Needs a reward server recording the ledger of the same run directory
(``stepstones serve --ledger RUN_DIR``). Runs until Ctrl-C / SIGTERM (or ``--max-stones``);
killing it at any moment loses nothing: restarting it carries on from the pool on disk.

``--next-stage STAGE --out FILE`` instead writes the live version of one OpenRLHF (or TRL,
verl) stage file from the pool and exits: run it before each chained launch.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import msgspec

from stepstones._cli._options import add_endpoint_options, endpoint, local_or_file_config
from stepstones.dataset._export import FORMATS
from stepstones.errors import ConfigError
from stepstones.online._pool import LivePool, Stone, Try
from stepstones.online._stage import next_stage
from stepstones.online._teacher import OnlineSettings, OnlineTeacher
from stepstones.pipeline._config import Config, load_config
from stepstones.pipeline._generate import open_backends

__all__ = ["add_arguments", "run"]

log = logging.getLogger("stepstones.online")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = OnlineSettings()
    parser.description = (
        "Grow stepping stones from the live policy: problems whose windowed pass rate in the "
        "ledger of RUN_DIR left the band (above harder_above -> harder, never solved -> easier) "
        "are rewritten by the teacher from the policy's own answers, validated, measured by the "
        "student and added to RUN_DIR/online/pool.jsonl, where the trainer's live dataset draws "
        "them. Start `stepstones serve --ledger RUN_DIR` first."
    )
    parser.add_argument("run_dir", type=Path, help="run directory holding ledger/ (and the pool)")
    parser.add_argument("--window", type=int, default=d.window, help="rollouts per windowed rate")
    parser.add_argument("--concurrency", type=int, default=d.concurrency, help="turns in flight")
    parser.add_argument(
        "--max-tries",
        type=int,
        default=d.max_tries,
        help="rejected drafts per problem and direction",
    )
    parser.add_argument(
        "--poll-interval-s",
        type=float,
        default=d.poll_interval_s,
        help="seconds between reads of the ledger",
    )
    parser.add_argument("--max-stones", type=int, default=None, help="stop after adding N stones")
    parser.add_argument("--config", default=None, help="generation settings (TOML; as generate)")
    parser.add_argument("--samples", type=int, default=None, help="M, student samples per stone")
    add_endpoint_options(
        parser.add_argument_group("LLM endpoints (as generate)"),
        max_requests=16,
        # A teacher sharing a busy local server with the policy waits minutes for its turn.
        request_timeout_s=120.0,
    )
    parser.add_argument(
        "--sandbox-workers",
        type=int,
        default=1,
        help="zygotes (default 1: the reward server needs the cores)",
    )
    parser.add_argument(
        "--allow-weaker-sandbox",
        action="store_true",
        help="run even if some isolation layer is unavailable on this kernel",
    )
    parser.add_argument("--quiet", action="store_true", help="no line per try")
    stage = parser.add_argument_group("next stage (OpenRLHF chained launches)")
    stage.add_argument(
        "--next-stage",
        type=Path,
        default=None,
        metavar="STAGE",
        help="a stage file written by `stepstones curriculum`",
    )
    stage.add_argument("--out", type=Path, default=None, help="where the live stage goes")
    stage.add_argument(
        "--format", default="openrlhf", choices=FORMATS, help="trainer of the live stage file"
    )
    stage.add_argument("--prompts", type=int, default=None, help="rows (default: as many as STAGE)")


def _config(args: argparse.Namespace, local: bool) -> Config:
    config = local_or_file_config(args.config, local_model=local)
    return config.replace(samples=args.samples) if args.samples is not None else config


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="stepstones online: %(message)s")
    if not args.run_dir.is_dir():
        raise ConfigError(f"run directory {str(args.run_dir)!r} does not exist")
    if args.next_stage is not None:
        if args.out is None:
            raise ConfigError("--next-stage needs --out FILE: where the live stage goes")
        config = load_config(args.config)
        counts = next_stage(
            args.run_dir,
            args.next_stage,
            args.out,
            fmt=args.format,
            prompts=args.prompts,
            window=args.window,
            harder_above=config.harder_above,
            easier_at_or_below=config.easier_at_or_below,
        )
        sys.stdout.write(msgspec.json.encode({"out": str(args.out), **counts}).decode() + "\n")
        return 0
    settings = OnlineSettings(
        window=args.window,
        concurrency=args.concurrency,
        max_tries=args.max_tries,
        poll_interval_s=args.poll_interval_s,
        max_stones=args.max_stones,
    )
    return anyio.run(_main, args, settings)


def _say(text: str) -> None:
    sys.stderr.write(f"stepstones online: {text}\n")
    sys.stderr.flush()


def _report(attempt: Try, stone: Stone | None) -> None:
    if stone is not None:
        rate = stone.problem.pass_rate or 0.0
        _say(
            f"stone {stone.id} ({attempt.instruction} of {attempt.parent_id}, live "
            f"{stone.parent_pass_rate:.2f}): student {rate:.2f}"
            + ("" if stone.viable else ", not viable")
        )
    else:
        _say(
            f"{attempt.instruction} of {attempt.parent_id}: {attempt.outcome}: "
            f"{attempt.reason[:160]}"
        )


async def _main(args: argparse.Namespace, settings: OnlineSettings) -> int:
    from stepstones.sandbox import Sandbox  # noqa: PLC0415 - heavy

    teacher, student = (
        endpoint(url, model, role, args.max_requests, args.request_timeout_s)
        for url, model, role in (
            (args.teacher_url, args.teacher_model, "teacher"),
            (args.student_url, args.student_model, "student"),
        )
    )
    async with AsyncExitStack() as stack:
        sandbox = stack.enter_context(
            Sandbox(workers=args.sandbox_workers, allow_weaker=args.allow_weaker_sandbox)
        )
        backends = await stack.enter_async_context(
            open_backends(teacher, student, endpoints_file=args.endpoints)
        )
        pool = stack.enter_context(LivePool(args.run_dir))
        online = OnlineTeacher(
            run_dir=str(args.run_dir),
            pool=pool,
            teacher=backends.teacher,
            student=backends.student,
            sandbox=sandbox,
            config=_config(args, backends.local),
            settings=settings,
            on_try=None if args.quiet else _report,
        )
        _say(
            f"watching {args.run_dir}/ledger (window {settings.window}); pool holds {len(pool)} "
            f"stones; teacher {backends.teacher_name}, student {backends.student_name}"
        )
        async with anyio.create_task_group() as tg:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for signum in signals:
                        _say(f"stopping ({signal.Signals(signum).name})")
                        tg.cancel_scope.cancel()
                        return

            tg.start_soon(stop_on_signal)
            await online.run()
            tg.cancel_scope.cancel()
        _say(f"{online.added} stones added in this run; the pool holds {len(pool)}")
    return 0
