"""The training recipes in examples/, checked against the trainers' own parsers and configs
(read from their wheels: OpenRLHF 0.11.2's argparse, verl 0.9.1's generated Hydra config, TRL
1.16's GRPOConfig and transformers' TrainingArguments fields)."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from _dataset_wheels import TRL, VERL, check_openrlhf_argv, openrlhf_parser, read_source

from stepstones.dataset import LaunchOptions, openrlhf_argv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _command(script: str, marker: str) -> list[str]:
    """The command line containing ``marker`` (backslash continuations joined)."""
    for line in script.replace("\\\n", " ").splitlines():
        if marker in line and not line.lstrip().startswith("#"):
            return shlex.split(line.strip())
    raise AssertionError(f"no {marker} command in the script")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*/*.sh")), ids=lambda p: p.name)
def test_shell_recipes_are_valid_bash(path: Path) -> None:
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_openrlhf_stage_recipe_parses_and_matches_the_generated_plan() -> None:
    argv = _command((EXAMPLES / "openrlhf" / "train_stage.sh").read_text(), "train_ppo_ray")
    parser = openrlhf_parser()
    from_script = check_openrlhf_argv(parser, argv)
    generated = check_openrlhf_argv(
        parser, openrlhf_argv("$DATASET", "$MODEL", "$OUTPUT", LaunchOptions())
    )
    differ = {k for k in from_script if from_script[k] != generated[k]}
    assert differ == {"reward.remote_url"}  # the script can also point at reward_func.py


def test_verl_recipe_overrides_exist_in_verls_config() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(read_source(VERL, "verl/trainer/config/_generated_ppo_trainer.yaml"))
    argv = _command((EXAMPLES / "verl" / "run_grpo.sh").read_text(), "verl.trainer.main_ppo")
    overrides = dict(a.split("=", 1) for a in argv if "=" in a)
    assert overrides
    for key in overrides:
        node = config
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"verl has no config key {key}"
            node = node[part]
    assert overrides["algorithm.adv_estimator"] == "grpo"
    assert overrides["algorithm.norm_adv_by_std_in_grpo"] == "False"
    assert overrides["algorithm.use_kl_in_reward"] == "False"
    assert overrides["actor_rollout_ref.actor.use_kl_loss"] == "False"
    assert overrides["data.shuffle"] == "False"
    assert overrides["reward.custom_reward_function.name"] == "compute_score"


def _dataclass_fields(source: str, cls: str) -> set[str]:
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
    return {
        s.target.id
        for s in node.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
    }


def test_trl_recipe_uses_real_grpo_config_fields() -> None:
    grpo_source = read_source(TRL, "trl/trainer/grpo_config.py")
    fields = _dataclass_fields(grpo_source, "GRPOConfig")
    fields |= _dataclass_fields(read_source(TRL, "trl/trainer/base_config.py"), "_BaseConfig")
    fields |= _dataclass_fields(
        read_source(("transformers", None), "transformers/training_args.py"), "TrainingArguments"
    )
    tree = ast.parse((EXAMPLES / "trl" / "train_grpo.py").read_text())
    call = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "GRPOConfig"
    )
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg != "output_dir"}
    assert set(kwargs) <= fields, f"not GRPOConfig fields: {set(kwargs) - fields}"
    assert kwargs["shuffle_dataset"] is False
    assert kwargs["beta"] == 0.0
    assert kwargs["scale_rewards"] == "none"
    for value in ("none", "dr_grpo"):
        assert re.search(rf"`[\"']{value}[\"']`", grpo_source), f"{value} not documented by TRL"
