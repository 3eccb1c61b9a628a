"""Trainers' own source, fetched once from PyPI (``pip download --no-deps``) into the user
cache, so tests can check our launch flags and configs against the real parsers and configs
without installing the trainers (they need GPUs)."""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

OPENRLHF = ("openrlhf", "0.11.2")
VERL = ("verl", "0.9.1")
TRL = ("trl", "1.16.0")


def wheel(name: str, version: str | None) -> zipfile.ZipFile:
    """The wheel of ``name==version`` (latest when None); the test is skipped, with the
    reason, when PyPI is unreachable."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stepstones-tests"
    cache.mkdir(parents=True, exist_ok=True)
    pattern = f"{name}-{version or '*'}-*.whl"
    found = sorted(cache.glob(pattern))
    if not found:
        spec = f"{name}=={version}" if version else name
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", spec, "-d", str(cache), "-q"],
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        found = sorted(cache.glob(pattern))
        if not found:
            pytest.skip(f"cannot download {spec} from PyPI: {proc.stderr[-300:]}")
    return zipfile.ZipFile(found[-1])


def read_source(package: tuple[str, str | None], member_suffix: str) -> str:
    """The text of the wheel member whose path ends with ``member_suffix``."""
    whl = wheel(*package)
    names = [n for n in whl.namelist() if n.endswith(member_suffix)]
    assert names, f"{member_suffix} not in the {package} wheel"
    return whl.read(names[0]).decode()


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
