"""OpenRLHF's own argument parser, rebuilt from its wheel (see tests/_trainer_wheels.py), and
the check of our launch flags against it."""

from __future__ import annotations

import argparse
import ast
import copy
import os
from datetime import datetime

import pytest

from _trainer_wheels import OPENRLHF, TRL, VERL, read_source

__all__ = [
    "OPENRLHF",
    "TRL",
    "VERL",
    "check_openrlhf_argv",
    "openrlhf_parser",
    "openrlhf_validate",
    "read_source",
]


def _main_block() -> ast.If:
    """The ``if __name__ == "__main__":`` block of OpenRLHF's train_ppo_ray.py."""
    tree = ast.parse(read_source(OPENRLHF, "openrlhf/cli/train_ppo_ray.py"))
    return next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    )


def openrlhf_parser() -> argparse.ArgumentParser:
    """OpenRLHF's own parser: the statements of train_ppo_ray.py's ``__main__`` block up to
    ``parse_args()``, executed with argparse only (the training imports are not needed)."""
    main_block = _main_block()
    body = []
    for stmt in main_block.body:
        if "parse_args" in ast.unparse(stmt):
            break
        body.append(stmt)
    namespace: dict[str, object] = {"argparse": argparse, "os": os, "datetime": datetime}
    exec(compile(ast.Module(body=body, type_ignores=[]), "train_ppo_ray.py", "exec"), namespace)
    parser = namespace["parser"]
    assert isinstance(parser, argparse.ArgumentParser)
    return parser


def openrlhf_validate(values: argparse.Namespace) -> None:
    """Run OpenRLHF's own argument checks on parsed ``values``: the statements of
    train_ppo_ray.py's ``__main__`` block after ``parse_args()`` (its ``hierarchize`` and the
    asserts such as "dr_grpo requires n_samples_per_prompt > 1"), up to where it would start
    training. They are executed from the wheel's source rather than by running the module
    because the module imports ray, torch and vLLM at the top, which need GPUs; the checks
    themselves use only ``args`` and ``hierarchize`` (a stdlib-only helper, also taken from
    the wheel). An AssertionError here is exactly what OpenRLHF would stop with."""
    stmts = _main_block().body
    start = next(i for i, s in enumerate(stmts) if "parse_args" in ast.unparse(s)) + 1
    body: list[ast.stmt] = []
    for stmt in stmts[start:]:
        text = ast.unparse(stmt)
        if "use_ms" in text or text.startswith("train("):
            break  # ModelScope hub patching and the training itself: not argument checks
        if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith("openrlhf"):
            continue  # provided below from the wheel's own source
        body.append(stmt)
    checks = ast.unparse(ast.Module(body=body, type_ignores=[]))
    # The block must still be where OpenRLHF validates, or this would check nothing.
    assert "n_samples_per_prompt > 1" in checks and "hierarchize(args)" in checks, checks[:300]
    helpers: dict[str, object] = {}
    exec(compile(read_source(OPENRLHF, "openrlhf/utils/config.py"), "config.py", "exec"), helpers)
    namespace: dict[str, object] = {
        "args": copy.deepcopy(values),
        "hierarchize": helpers["hierarchize"],
        "print": lambda *_a, **_k: None,  # its warnings
    }
    exec(compile(ast.Module(body=body, type_ignores=[]), "train_ppo_ray.py", "exec"), namespace)


def check_openrlhf_argv(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, object]:
    """Parse a ``python3 -m openrlhf.cli.train_ppo_ray ...`` command with OpenRLHF's parser
    and check the paper's recipe; returns the parsed values by dotted name."""
    assert argv[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
    try:
        parsed = parser.parse_args(argv[3:])
    except SystemExit as exc:
        pytest.fail(f"OpenRLHF's parser rejects {argv[3:]}: exit {exc.code}")
    try:
        openrlhf_validate(parsed)
    except AssertionError as exc:
        pytest.fail(f"OpenRLHF's own checks reject {argv[3:]}: {exc}")
    values = vars(parsed)
    # GRPO with a group-mean baseline, no std normalisation, no KL, asynchronous.
    assert values["algo.advantage.estimator"] == "dr_grpo"
    assert values["algo.kl.init_coef"] == 0
    assert not values["algo.kl.use_loss"]
    assert values["train.async_enable"]
    assert values["data.input_key"] == "prompt"
    assert values["data.label_key"] == "label"
    assert values["data.apply_chat_template"]
    return values
