"""What the online adapters rely on in the trainers, pinned against the pinned wheels' own
source (verl, TRL and transformers need torch and GPUs to import, so their classes cannot be
loaded here; what can be run — ``datasets.IterableDataset`` — is, in test_online_schedule.py).
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from _trainer_wheels import OPENRLHF, TRANSFORMERS, TRL, VERL, read_source


def _function(source: str, name: str, within: str | None = None) -> str:
    """The source of function ``name`` (the method of class ``within`` when given)."""
    tree: ast.AST = ast.parse(source)
    if within is not None:
        tree = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == within)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) or ""
    raise AssertionError(f"no function {name!r}")


def test_verl_builds_the_custom_dataset_class_as_the_live_class_expects() -> None:
    utils = read_source(VERL, "verl/trainer/ppo/utils.py")
    create = _function(utils, "create_rl_dataset")
    assert re.search(
        r"dataset_cls\(\s*data_files=data_paths,\s*tokenizer=tokenizer,\s*processor=processor,"
        r"\s*config=data_config,\s*max_samples=max_samples,?\s*\)",
        create,
    ), create
    dataset = read_source(VERL, "verl/utils/dataset/rl_dataset.py")
    get_class = _function(dataset, "get_dataset_class")
    assert (
        "load_extern_object(data_config.custom_cls.path, data_config.custom_cls.name)" in get_class
    )
    assert "issubclass(dataset_cls, Dataset)" in get_class
    # RLHFDataset reads its files in the method LiveRLHFDataset extends, and indexes the
    # attribute LiveFrame replaces.
    init = _function(dataset, "__init__")
    assert init.rstrip().endswith("self._read_files_and_tokenize()")
    assert "row_dict: dict = self.dataframe[item]" in _function(dataset, "__getitem__")
    assert "return len(self.dataframe)" in _function(dataset, "__len__")
    imports = read_source(VERL, "verl/utils/import_utils.py")
    assert "module_path.startswith(PKG_PATH_PREFIX)" in _function(imports, "load_module")
    assert re.search(r'PKG_PATH_PREFIX\s*=\s*"pkg://"', imports)


def test_verl_loads_the_reward_function_by_pkg_path() -> None:
    reward = read_source(VERL, "verl/trainer/ppo/reward.py")
    loader = _function(reward, "get_custom_reward_fn")
    assert "load_extern_object(module_path=module_path, object_name=fn_name)" in loader


def test_verl_calls_on_batch_end_and_checkpoints_the_dataloader() -> None:
    trainer = read_source(VERL, "verl/trainer/ppo/ray_trainer.py")
    assert 'if hasattr(self.train_dataset, "on_batch_end"):' in trainer
    assert "self.train_dataset.on_batch_end(batch=batch)" in trainer
    assert "dataloader_state_dict = self.train_dataloader.state_dict()" in trainer
    assert "self.train_dataloader.load_state_dict(dataloader_state_dict)" in trainer
    assert "StatefulDataLoader" in trainer


def test_verl_091_has_no_pluggable_curriculum_sampler() -> None:
    """The research notes were right: ``data.sampler.class_path`` and
    ``AbstractCurriculumSampler`` are not in the 0.9.1 wheel; the sampler is Random or
    Sequential, so the live order has to live in the dataset."""
    utils = read_source(VERL, "verl/trainer/ppo/utils.py")
    sampler = _function(utils, "create_rl_sampler")
    assert "class_path" not in sampler and "Curriculum" not in sampler
    assert "RandomSampler(" in sampler and "SequentialSampler(" in sampler
    config = read_source(VERL, "verl/trainer/config/data/legacy_data.yaml")
    assert "class_path" not in config and "custom_cls:" in config


def test_trl_takes_an_iterable_dataset_and_the_trainer_saves_through_callbacks() -> None:
    grpo = read_source(TRL, "trl/trainer/grpo_trainer.py")
    assert "not isinstance(train_dataset, (Dataset, IterableDataset))" in grpo
    loader = _function(grpo, "get_train_dataloader")
    assert "if self.shuffle_dataset:" in loader and "dataset.shuffle(" in loader
    callback = read_source(TRANSFORMERS, "transformers/trainer_callback.py")
    assert re.search(r"def on_save\(self, args: TrainingArguments, state: TrainerState", callback)
    trainer = read_source(TRANSFORMERS, "transformers/trainer.py")
    assert 'checkpoint_folder = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"' in trainer
    assert "self.callback_handler.on_save(self.args, self.state, self.control)" in trainer
    assert "not self.args.ignore_data_skip" in trainer
    utils = read_source(TRANSFORMERS, "transformers/trainer_utils.py")
    assert 'PREFIX_CHECKPOINT_DIR = "checkpoint"' in utils


def test_openrlhf_agent_reset_can_change_the_text_but_not_the_label() -> None:
    """Why OpenRLHF gets the live pool through regenerated stages: its agent executor keeps
    the dataset's label for every step and each of the n samples of a prompt builds its own
    agent instance, so ``reset`` could rewrite the prompt text but a group's samples could not
    be kept on one live problem, and the label given to ``step`` stays the dataset's."""
    agent = read_source(OPENRLHF, "openrlhf/utils/agent.py")
    execute = _function(agent, "execute", within="MultiTurnAgentExecutor")
    assert "agent_instance = self.agent_instance_cls()" in execute
    assert 'initial_states = {"observation": prompt, "label": label}' in execute
    assert 'observation_text = reset_result["observation"]' in execute
    assert '"label": label,' in execute  # step() sees the dataset's label, not reset()'s
    assert 'reset_result["label"]' not in execute


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "online"


def test_the_verl_online_recipe_names_real_config_keys() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(read_source(VERL, "verl/trainer/config/_generated_ppo_trainer.yaml"))
    script = (EXAMPLES / "verl_live.sh").read_text().replace("\\\n", " ")
    line = next(x for x in script.splitlines() if "verl.trainer.main_ppo" in x)
    overrides = dict(a.split("=", 1) for a in shlex.split(line) if "=" in a)
    for key in overrides:
        if key.startswith("+"):  # Hydra's "add a key": ours, read by LiveRLHFDataset
            continue
        node = config
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"verl has no config key {key}"
            node = node[part]
    assert overrides["data.custom_cls.path"] == "pkg://stepstones.online.verl"
    assert overrides["data.dataloader_num_workers"] == "0"
    assert "+data.stepstones_run_dir" in overrides


def test_the_trl_online_recipe_uses_real_grpo_config_fields() -> None:
    fields: set[str] = set()
    for package, member, cls in (
        (TRL, "trl/trainer/grpo_config.py", "GRPOConfig"),
        (TRL, "trl/trainer/base_config.py", "_BaseConfig"),
        (TRANSFORMERS, "transformers/training_args.py", "TrainingArguments"),
    ):
        tree = ast.parse(read_source(package, member))
        node = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls)
        fields |= {s.target.id for s in node.body if isinstance(s, ast.AnnAssign)
                   and isinstance(s.target, ast.Name)}  # fmt: skip
    tree = ast.parse((EXAMPLES / "trl_live.py").read_text())
    call = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "GRPOConfig"
    )
    used = {k.arg for k in call.keywords}
    assert used <= fields, f"not GRPOConfig fields: {used - fields}"
    assert {"max_steps", "shuffle_dataset", "ignore_data_skip"} <= used
