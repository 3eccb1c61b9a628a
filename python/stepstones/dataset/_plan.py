"""Launch plans: one OpenRLHF GRPO run per curriculum stage, each from the previous checkpoint.

The flags are OpenRLHF 0.11.x's dotted names (checked against its argument parser in the
tests). The recipe follows the paper: asynchronous GRPO, group-mean baseline without std
normalisation (``dr_grpo``), no KL (``init_coef 0``). Rewards come from a stepstones reward
server on every node at ``127.0.0.1``: OpenRLHF posts rewards from the vLLM engine actors, so
a loopback URL keeps each node's rewards on its own node and the server off the network.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import msgspec

__all__ = ["LaunchOptions", "StagePlan", "launch_script", "openrlhf_argv"]


class LaunchOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The GRPO recipe for one 8-GPU node (4 training GPUs, 4 vLLM engines)."""

    reward_url: str = "http://127.0.0.1:5000/get_reward"
    n_samples_per_prompt: int = 8
    prompts_per_step: int = 128
    actor_gpus: int = 4
    vllm_engines: int = 4
    max_new_tokens: int = 4096
    max_len: int = 6144
    lr: float = 1e-6
    temperature: float = 1.0


class StagePlan(msgspec.Struct, frozen=True, kw_only=True):
    """One stage of a curriculum on disk."""

    index: int  # 1-based
    dataset: str  # path of the stage's prompt file
    steps: int
    prompts: int
    counts: dict[str, int]
    weights: dict[str, float]


def openrlhf_argv(dataset: str, model: str, output_dir: str, opts: LaunchOptions) -> list[str]:
    """The ``python3 -m openrlhf.cli.train_ppo_ray`` command line of one stage."""
    return [
        "python3", "-m", "openrlhf.cli.train_ppo_ray",
        "--actor.num_nodes", "1",
        "--actor.num_gpus_per_node", str(opts.actor_gpus),
        "--vllm.num_engines", str(opts.vllm_engines),
        "--vllm.tensor_parallel_size", "1",
        "--vllm.enable_prefix_caching",
        "--vllm.gpu_memory_utilization", "0.85",
        "--train.async_enable",
        "--actor.model_name_or_path", model,
        "--reward.remote_url", opts.reward_url,
        "--data.prompt_dataset", dataset,
        "--data.input_key", "prompt",
        "--data.label_key", "label",
        "--data.apply_chat_template",
        "--rollout.n_samples_per_prompt", str(opts.n_samples_per_prompt),
        "--rollout.batch_size", str(opts.prompts_per_step),
        "--train.batch_size", str(opts.prompts_per_step * opts.n_samples_per_prompt),
        "--train.micro_batch_size", "2",
        "--rollout.micro_batch_size", "4",
        "--train.num_episodes", "1",
        "--train.max_epochs", "1",
        "--rollout.max_new_tokens", str(opts.max_new_tokens),
        "--data.max_len", str(opts.max_len),
        "--rollout.temperature", str(opts.temperature),
        "--algo.advantage.estimator", "dr_grpo",
        "--algo.kl.init_coef", "0",
        "--actor.adam.lr", str(opts.lr),
        "--ds.zero_stage", "3",
        "--ds.param_dtype", "bf16",
        "--ds.packing_samples",
        "--actor.gradient_checkpointing_enable",
        "--ckpt.output_dir", output_dir,
        "--ckpt.path", f"{output_dir}/ckpt",
        "--ckpt.save_steps", "200",
        "--logger.logging_steps", "1",
    ]  # fmt: skip


def _cmd(argv: Sequence[str]) -> str:
    # Arguments naming shell variables are double-quoted so they expand; the rest is quoted.
    return " \\\n    ".join(f'"{a}"' if "$" in a else shlex.quote(a) for a in argv)


def launch_script(stages: Sequence[StagePlan], opts: LaunchOptions) -> str:
    """A bash script that trains the stages in order, each from the previous checkpoint.

    It needs ``BASE_MODEL`` (HF name or path) and optionally ``SAVE_ROOT``; it expects Ray
    running and ``stepstones serve --port 5000`` on every node (see examples/openrlhf/).
    """
    lines = [
        "#!/usr/bin/env bash",
        "# Written by `stepstones curriculum`: one OpenRLHF GRPO run per stage, chained.",
        "# Needs: BASE_MODEL; Ray started on every node; `stepstones serve --port 5000` on",
        "# every node (rewards stay on 127.0.0.1). Re-running skips finished stages.",
        "set -euo pipefail",
        'HERE="$(cd "$(dirname "$0")" && pwd)"',
        'MODEL="${BASE_MODEL:?set BASE_MODEL to the model to start from}"',
        'SAVE_ROOT="${SAVE_ROOT:-$HERE/checkpoints}"',
        "",
    ]
    for st in stages:
        out = f"$SAVE_ROOT/stage_{st.index:02d}"
        counts = ", ".join(f"{k}={v}" for k, v in st.counts.items())
        argv = openrlhf_argv(f"$HERE/{st.dataset}", "$MODEL", out, opts)
        lines += [
            f"# stage {st.index}: {st.steps} steps, {st.prompts} prompts ({counts})",
            f'if [ ! -f "{out}/config.json" ]; then',
            "  " + _cmd(argv).replace("\n", "\n  "),
            "fi",
            f'MODEL="{out}"',
            "",
        ]
    return "\n".join(lines)
