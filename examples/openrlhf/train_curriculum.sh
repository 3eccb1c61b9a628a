#!/usr/bin/env bash
# The paper's recipe on one 8-GPU node with OpenRLHF 0.11.x: a curriculum of GRPO runs (async,
# group-mean baseline without std normalisation = dr_grpo, no KL), one run per stage, each
# starting from the previous stage's checkpoint (OpenRLHF shuffles its prompt set, so a
# schedule becomes one dataset per stage).
#
#   RUN=runs/first SCHEDULE=medium_start_reverse BASE_MODEL=Qwen/Qwen2.5-7B-Instruct \
#       bash examples/openrlhf/train_curriculum.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="${RUN:?set RUN to a stepstones run directory (holding chains.jsonl)}"
SCHEDULE="${SCHEDULE:-medium_start_reverse}"
TOTAL_STEPS="${TOTAL_STEPS:-2000}"
PROMPTS_PER_STEP="${PROMPTS_PER_STEP:-128}"
OUT="${OUT:-data/curriculum-$SCHEDULE}"
export BASE_MODEL="${BASE_MODEL:?set BASE_MODEL to the model to start from}"
export SAVE_ROOT="${SAVE_ROOT:-$PWD/checkpoints/$SCHEDULE}"

# 1. One dataset per stage plus plan.json and launch.sh (4 environments mixed in every bin).
stepstones curriculum "$RUN" --schedule "$SCHEDULE" --total-steps "$TOTAL_STEPS" \
  --prompts-per-step "$PROMPTS_PER_STEP" --cap-per-env 5000 --out "$OUT"

# 2. Ray and the reward server (repeat both on every node of a multi-node cluster).
ray status >/dev/null 2>&1 || ray start --head --num-gpus 8
bash "$HERE/start_reward_server.sh"

# 3. The stages, chained (re-running skips finished stages).
bash "$OUT/launch.sh"
