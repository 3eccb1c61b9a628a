#!/usr/bin/env bash
# Online mode with verl 0.9.x: the dataset class draws from the live pool (new stones first,
# the band kept, nobody starved; its order is checkpointed in data.pt), and rewards go through
# the reward server so the ledger sees every rollout.
#
#   RUN=runs/demo MODEL=Qwen/Qwen2.5-7B-Instruct ENDPOINTS=endpoints.toml \
#       bash examples/online/verl_live.sh
set -euo pipefail
RUN="${RUN:?set RUN to a stepstones run directory}"
MODEL="${MODEL:?set MODEL}"
DATA="${DATA:-data/verl-online}"

stepstones export "$RUN" --format verl --bins broad --mix all=5000 --out "$DATA/train.parquet"
stepstones serve --port 5000 --ledger "$RUN" &
SERVE=$!
stepstones online "$RUN" --endpoints "${ENDPOINTS:?set ENDPOINTS to a [teacher]/[student] TOML}" &
ONLINE=$!
trap 'kill $SERVE $ONLINE 2>/dev/null || true' EXIT
export STEPSTONES_REWARD_URL=http://127.0.0.1:5000

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.norm_adv_by_std_in_grpo=False \
    algorithm.use_kl_in_reward=False \
    data.train_files="$DATA/train.parquet" \
    data.val_files="$DATA/train.parquet" \
    data.prompt_key=prompt \
    data.shuffle=False \
    data.dataloader_num_workers=0 \
    data.custom_cls.path=pkg://stepstones.online.verl \
    data.custom_cls.name=LiveRLHFDataset \
    +data.stepstones_run_dir="$RUN" \
    data.train_batch_size=128 \
    data.max_prompt_length=2048 \
    data.max_response_length=4096 \
    actor_rollout_ref.model.path="$MODEL" \
    actor_rollout_ref.actor.optim.lr=1e-6 \
    actor_rollout_ref.actor.use_kl_loss=False \
    actor_rollout_ref.actor.ppo_mini_batch_size=128 \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2 \
    actor_rollout_ref.rollout.name=vllm \
    actor_rollout_ref.rollout.n=8 \
    actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4 \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4 \
    reward.custom_reward_function.path=pkg://stepstones.online.verl \
    reward.custom_reward_function.name=compute_score \
    trainer.n_gpus_per_node=8 \
    trainer.nnodes=1 \
    trainer.total_epochs=1 \
    trainer.project_name=stepstones \
    trainer.experiment_name=grpo-online
