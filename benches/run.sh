#!/usr/bin/env bash
# Side-by-side benchmark: herald, Faye 1.4 and CometD's Node server, one at a time, the same
# scenarios over the same transports with the same connect timeout; prints a table with
# ratios (herald ÷ peer). See benches/README.md.
#
#   benches/run.sh            # full run, about 15 minutes
#   benches/run.sh --quick    # every server and scenario, small and short
#   benches/run.sh --servers herald --scenarios fanout,chat    # any `herald-bench suite` option
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p herald -p herald-bench

servers=()
if command -v node >/dev/null && command -v npm >/dev/null; then
  if [ ! -f benches/node_modules/.package-lock.json ] ||
     [ benches/package-lock.json -nt benches/node_modules/.package-lock.json ]; then
    (cd benches && npm ci --no-audit --no-fund --loglevel=error)
  fi
else
  echo "run.sh: node/npm not found: running herald only (apt-get install nodejs npm for the peers)" >&2
  servers=(--servers herald)
fi

# Run copies, so that a rebuild during the run does not swap the binaries under it.
mkdir -p target/herald-bench
cp target/release/herald target/release/herald-bench target/herald-bench/
target/herald-bench/herald-bench suite --herald target/herald-bench/herald \
  --json-out target/herald-bench/suite.json "${servers[@]}" "$@" |
  tee target/herald-bench/suite.md
