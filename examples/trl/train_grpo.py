"""GRPO with TRL 1.x on data exported by ``stepstones export --format trl``, rewards from
stepstones (an async reward callable grading in the sandbox).

    stepstones export runs/first --format trl --bins broad --mix all=5000 --out data/trl.jsonl
    accelerate launch examples/trl/train_grpo.py data/trl.jsonl Qwen/Qwen2.5-1.5B-Instruct

The paper's recipe: no std normalisation (``scale_rewards="none"``), no KL (``beta=0``), and
the file's order kept (``shuffle_dataset=False``) so a curriculum export trains in order.
TRL passes the ``label`` column to the reward callable; nothing else is needed.
"""

from __future__ import annotations

import sys

from datasets import load_dataset

from stepstones.serve import trl_reward
from trl import GRPOConfig, GRPOTrainer


def main(data: str, model: str, output_dir: str = "checkpoints/trl-grpo") -> None:
    dataset = load_dataset("json", data_files=data, split="train")
    config = GRPOConfig(
        output_dir=output_dir,
        shuffle_dataset=False,
        num_generations=8,
        max_completion_length=4096,
        temperature=1.0,
        beta=0.0,
        scale_rewards="none",
        loss_type="dr_grpo",
        log_completions=True,
        learning_rate=1e-6,
        per_device_train_batch_size=8,
        bf16=True,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=[trl_reward], args=config, train_dataset=dataset
    )
    trainer.train()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: train_grpo.py DATA.jsonl MODEL [OUTPUT_DIR]")
    main(*sys.argv[1:])
