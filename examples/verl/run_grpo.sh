#!/usr/bin/env bash
# GRPO with verl 0.9.x on one 8-GPU node, rewards from stepstones in-process
# (reward_fn.py). The paper's recipe: no std normalisation, no KL, data order kept.
#
#   RUN=runs/first MODEL=Qwen/Qwen2.5-7B-Instruct bash examples/verl/run_grpo.sh
#
# verl's own sandbox path can use stepstones too: start `stepstones serve` and add
#   reward.sandbox_fusion.url=http://127.0.0.1:5000/run_code
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="${RUN:?set RUN to a stepstones run directory}"
MODEL="${MODEL:?set MODEL}"
DATA="${DATA:-data/verl}"

stepstones export "$RUN" --format verl --bins broad --mix all=5000 --out "$DATA/train.parquet"
stepstones export "$RUN" --format verl --bins broad --mix all=200 --seed 1 --split test \
  --out "$DATA/val.parquet"

python3 -m verl.trainer.main_ppo \
    algorithm.adv_estimator=grpo \
    algorithm.norm_adv_by_std_in_grpo=False \
    algorithm.use_kl_in_reward=False \
    data.train_files="$DATA/train.parquet" \
    data.val_files="$DATA/val.parquet" \
    data.prompt_key=prompt \
    data.shuffle=False \
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
    reward.custom_reward_function.path="$HERE/reward_fn.py" \
    reward.custom_reward_function.name=compute_score \
    trainer.n_gpus_per_node=8 \
    trainer.nnodes=1 \
    trainer.total_epochs=1 \
    trainer.project_name=stepstones \
    trainer.experiment_name=grpo-4x5k
