#!/usr/bin/env bash
# Online mode with OpenRLHF 0.11.x: the reward server keeps the live ledger, the online teacher
# grows stones from it, and each chained stage is regenerated from the live pool just before it
# is launched (OpenRLHF's prompt set is fixed per launch; its agent `reset` cannot move a whole
# GRPO group onto a new problem, see tests/online/test_online_trainers.py).
#
#   RUN=runs/demo BASE_MODEL=Qwen/Qwen2.5-7B-Instruct bash examples/online/openrlhf_live.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="${RUN:?set RUN to a stepstones run directory (holding chains.jsonl)}"
SCHEDULE="${SCHEDULE:-medium_start_reverse}"
OUT="${OUT:-data/online-$SCHEDULE}"
MODEL="${BASE_MODEL:?set BASE_MODEL to the model to start from}"
SAVE_ROOT="${SAVE_ROOT:-$PWD/checkpoints/online-$SCHEDULE}"

# 1. The stage files of the schedule (the base sets), as for an offline curriculum.
stepstones curriculum "$RUN" --schedule "$SCHEDULE" --total-steps "${TOTAL_STEPS:-2000}" \
  --prompts-per-step "${PROMPTS_PER_STEP:-128}" --out "$OUT"

# 2. The reward server with the ledger, and the online teacher beside it (its own endpoint:
#    the teacher and student models, e.g. a vLLM server; see `stepstones online --help`).
stepstones serve --port 5000 --ledger "$RUN" &
SERVE=$!
stepstones online "$RUN" --endpoints "${ENDPOINTS:?set ENDPOINTS to a [teacher]/[student] TOML}" &
ONLINE=$!
trap 'kill $SERVE $ONLINE 2>/dev/null || true' EXIT

# 3. Each stage: regenerate it from the live pool (new stones first, out-of-band problems
#    replaced, nobody starved; the rotation continues across stages), then train from the last
#    checkpoint.
for stage in "$OUT"/stage_*.jsonl; do
  name="$(basename "$stage" .jsonl)"
  case "$name" in *.live) continue ;; esac
  out="$SAVE_ROOT/$name"
  [ -f "$out/config.json" ] && { MODEL="$out"; continue; }
  stepstones online "$RUN" --next-stage "$stage" --out "$OUT/$name.live.jsonl"
  bash "$HERE/../openrlhf/train_stage.sh" "$OUT/$name.live.jsonl" "$MODEL" "$out"
  MODEL="$out"
done
