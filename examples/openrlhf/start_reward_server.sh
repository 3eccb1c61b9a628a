#!/usr/bin/env bash
# Start one stepstones reward server on THIS node, on loopback, and wait until it is healthy.
# Run it on every node of the Ray cluster before training (e.g. `pdsh -w node[1-4] bash ...`
# or a Ray task per node). OpenRLHF posts rewards from the vLLM engine actors, so the single
# URL http://127.0.0.1:$PORT/get_reward keeps each node's rewards on that node and the server
# off the network: no token is needed (OpenRLHF's client cannot send one anyway).
set -euo pipefail
PORT="${PORT:-5000}"
LOG="${LOG:-/tmp/stepstones-serve-$PORT.log}"

if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
  echo "reward server already up on port $PORT"
  exit 0
fi
nohup stepstones serve --host 127.0.0.1 --port "$PORT" --log-level warning >"$LOG" 2>&1 &
echo $! >"/tmp/stepstones-serve-$PORT.pid"
for _ in $(seq 1 60); do
  if curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
    echo "reward server up on port $PORT (pid $(cat "/tmp/stepstones-serve-$PORT.pid"), log $LOG)"
    exit 0
  fi
  sleep 1
done
echo "reward server did not become healthy; see $LOG" >&2
exit 1
