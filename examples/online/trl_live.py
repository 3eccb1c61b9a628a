"""Online mode with TRL 1.x: GRPO on an endless dataset drawn from the live pool, rewards
through the reward server (so its ledger sees every rollout), the schedule's state saved in
every checkpoint.

    stepstones export runs/demo --format trl --bins broad --mix all=5000 --out data/trl.jsonl
    stepstones serve --port 5000 --ledger runs/demo &
    stepstones online runs/demo --endpoints endpoints.toml &
    accelerate launch examples/online/trl_live.py runs/demo data/trl.jsonl MODEL

Resume with a fourth argument, the checkpoint folder: the schedule continues where it was.
"""

from __future__ import annotations

import sys

from stepstones.online.trl import LiveTRL, RemoteReward
from trl import GRPOConfig, GRPOTrainer


def main(run: str, base: str, model: str, resume: str | None = None) -> None:
    live = LiveTRL(run, base, resume_from=resume)
    config = GRPOConfig(
        output_dir="checkpoints/trl-online",
        max_steps=2000,  # an iterable dataset has no length
        shuffle_dataset=False,  # keep the schedule's order
        ignore_data_skip=True,  # the schedule's own state resumes the stream
        num_generations=8,
        max_completion_length=4096,
        temperature=1.0,
        beta=0.0,
        scale_rewards="none",
        loss_type="dr_grpo",
        learning_rate=1e-6,
        per_device_train_batch_size=8,
        bf16=True,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[RemoteReward("http://127.0.0.1:5000")],
        args=config,
        train_dataset=live.dataset(),
        callbacks=[live.callback()],
    )
    trainer.train(resume_from_checkpoint=resume)


if __name__ == "__main__":
    main(*sys.argv[1:5])
