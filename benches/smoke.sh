#!/usr/bin/env bash
# Smoke test of the load generator: herald only, small N, each scenario once, a few seconds.
# Fails when herald-bench errors, a client cannot set up, or a message is lost. No timing
# is asserted. Builds the debug binaries unless HERALD_BIN and HERALD_BENCH_BIN are given.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${HERALD_BIN:-}" ] || [ -z "${HERALD_BENCH_BIN:-}" ]; then
  cargo build --quiet -p herald -p herald-bench
fi
HERALD_BIN=${HERALD_BIN:-target/debug/herald}
BENCH=${HERALD_BENCH_BIN:-target/debug/herald-bench}

port=""
for p in $(seq 18390 18399); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "smoke: no free port in 18390-18399" >&2; exit 1; }

"$HERALD_BIN" --bind "127.0.0.1:$port" --timeout 2000 --log warn &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done

url="http://127.0.0.1:$port/cometd"
common=(--url "$url" --server-pid "$pid" --strict --deadline 60 --drain 2)
transports=(long-polling)
if command -v curl >/dev/null && curl -s "$url" -d '[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["websocket","long-polling"]}]' |
   grep -q '"websocket"'; then
  transports+=(websocket)
fi
for t in "${transports[@]}"; do
  echo "== $t"
  "$BENCH" fanout "${common[@]}" --transport "$t" -n 20 --rate 20 --duration 1
  "$BENCH" chat "${common[@]}" --transport "$t" -n 40 --room-size 10 --rate 2 --duration 1
  "$BENCH" idle "${common[@]}" --transport "$t" -n 50 --hold 0.5
  "$BENCH" max-rate "${common[@]}" --transport "$t" -n 20 --start-rate 50 --step 0.5 --max-steps 2
done
echo "== loopback floor"
"$BENCH" floor -n 20 --duration 0.5
echo "smoke: herald-bench ran every scenario against herald; nothing lost"
