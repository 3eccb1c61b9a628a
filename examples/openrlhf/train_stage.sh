#!/usr/bin/env bash
# One GRPO stage with OpenRLHF 0.11.x on an 8-GPU node (4 training GPUs, 4 vLLM engines):
#   bash train_stage.sh DATASET.jsonl MODEL_OR_CHECKPOINT OUTPUT_DIR
# The same flags `stepstones curriculum` writes into launch.sh; rewards from a stepstones
# server on this node (start_reward_server.sh) or, with REWARD=file, in-process
# (reward_func.py next to this script).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DATASET="$1"
MODEL="$2"
OUTPUT="$3"
if [ "${REWARD:-server}" = file ]; then
  REWARD_URL="$HERE/reward_func.py"
else
  REWARD_URL="${REWARD_URL:-http://127.0.0.1:5000/get_reward}"
fi

python3 -m openrlhf.cli.train_ppo_ray \
    --actor.num_nodes 1 \
    --actor.num_gpus_per_node 4 \
    --vllm.num_engines 4 \
    --vllm.tensor_parallel_size 1 \
    --vllm.enable_prefix_caching \
    --vllm.gpu_memory_utilization 0.85 \
    --train.async_enable \
    --actor.model_name_or_path "$MODEL" \
    --reward.remote_url "$REWARD_URL" \
    --data.prompt_dataset "$DATASET" \
    --data.input_key prompt \
    --data.label_key label \
    --data.apply_chat_template \
    --rollout.n_samples_per_prompt 8 \
    --rollout.batch_size 128 \
    --train.batch_size 1024 \
    --train.micro_batch_size 2 \
    --rollout.micro_batch_size 4 \
    --train.num_episodes 1 \
    --train.max_epochs 1 \
    --rollout.max_new_tokens 4096 \
    --data.max_len 6144 \
    --rollout.temperature 1.0 \
    --algo.advantage.estimator dr_grpo \
    --algo.kl.init_coef 0 \
    --actor.adam.lr 1e-06 \
    --ds.zero_stage 3 \
    --ds.param_dtype bf16 \
    --ds.packing_samples \
    --actor.gradient_checkpointing_enable \
    --ckpt.output_dir "$OUTPUT" \
    --ckpt.path "$OUTPUT/ckpt" \
    --ckpt.save_steps 200 \
    --logger.logging_steps 1
