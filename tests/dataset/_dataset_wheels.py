"""OpenRLHF's own argument parser, rebuilt from its wheel (see tests/_trainer_wheels.py), and
the check of our launch flags against it."""

from __future__ import annotations

import argparse
import ast
import os
from datetime import datetime

import pytest

from _trainer_wheels import OPENRLHF, TRL, VERL, read_source

__all__ = ["OPENRLHF", "TRL", "VERL", "check_openrlhf_argv", "openrlhf_parser", "read_source"]


def openrlhf_parser() -> argparse.ArgumentParser:
    """OpenRLHF's own parser: the statements of train_ppo_ray.py's ``__main__`` block up to
    ``parse_args()``, executed with argparse only (the training imports are not needed)."""
    tree = ast.parse(read_source(OPENRLHF, "openrlhf/cli/train_ppo_ray.py"))
    main_block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    )
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


def check_openrlhf_argv(parser: argparse.ArgumentParser, argv: list[str]) -> dict[str, object]:
    """Parse a ``python3 -m openrlhf.cli.train_ppo_ray ...`` command with OpenRLHF's parser
    and check the paper's recipe; returns the parsed values by dotted name."""
    assert argv[:3] == ["python3", "-m", "openrlhf.cli.train_ppo_ray"]
    try:
        values = vars(parser.parse_args(argv[3:]))
    except SystemExit as exc:
        pytest.fail(f"OpenRLHF's parser rejects {argv[3:]}: exit {exc.code}")
    # GRPO with a group-mean baseline, no std normalisation, no KL, asynchronous.
    assert values["algo.advantage.estimator"] == "dr_grpo"
    assert values["algo.kl.init_coef"] == 0
    assert not values["algo.kl.use_loss"]
    assert values["train.async_enable"]
    assert values["data.input_key"] == "prompt"
    assert values["data.label_key"] == "label"
    assert values["data.apply_chat_template"]
    return values
