#!/usr/bin/env bash
# A/B of one herald-bench scenario against two herald binaries, alternating A and B for
# ROUNDS rounds, each run against a fresh server on its own loopback port, so machine noise
# falls on both alike. One line per run: latency, loss, server CPU, connects, peak RSS.
#
#   benches/ab.sh A_BIN B_BIN ROUNDS -- <herald-bench scenario and options>
#   benches/ab.sh /tmp/herald-84e8631 target/release/herald 3 -- fanout -n 1000 --duration 8
#   B_BENCH_ARGS=--ack benches/ab.sh target/release/herald target/release/herald 2 -- chat
#
# B_BENCH_ARGS: more herald-bench options for the B runs only (e.g. `--ack`, to measure what
# acknowledged delivery costs with one binary). HERALD_BENCH_BIN: the load generator
# (default target/release/herald-bench). Needs python3 to read the JSON reports.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ] || [ "$4" != "--" ]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
a_bin=$1 b_bin=$2 rounds=$3
shift 4
bench=${HERALD_BENCH_BIN:-target/release/herald-bench}
out=$(mktemp -d)
port=18800
for round in $(seq 1 "$rounds"); do
  for side in A B; do
    if [ "$side" = A ]; then bin=$a_bin extra=(); else bin=$b_bin extra=(${B_BENCH_ARGS:-}); fi
    port=$((port + 1))
    "$bin" --bind "127.0.0.1:$port" --timeout 10000 --log warn >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 50); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
    report="$out/$side-$round.json"
    "$bench" "$@" "${extra[@]}" --url "http://127.0.0.1:$port/cometd" --server-pid "$pid" --json \
      >"$report" 2>"$out/$side-$round.err" || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$side" "$round" "$report" <<'PY'
import json, sys
side, round_, path = sys.argv[1:]
try:
    d = json.load(open(path))
except ValueError:
    print(f"{side} {round_}: no report (see {path[:-5]}.err)")
    sys.exit()
phase = d["phases"][-1] if d.get("phases") else {}
lat = phase.get("latency", {})
idle = d.get("idle") or {}
line = (f"{side} {round_}: p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms, lost {d['lost']}, "
        f"server CPU {d['server']['cpu_pct']:.1f} %, connects {d['counters']['connects']}, "
        f"peak RSS {d['server']['rss_peak_kb']} KB")
if idle:
    line += f", idle: {idle.get('bytes_per_client', 0):.0f} B per client ({idle.get('connected')} connected)"
print(line)
PY
  done
done
rm -rf "$out"
