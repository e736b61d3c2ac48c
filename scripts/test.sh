#!/usr/bin/env bash
# Every test herald has, from a fresh clone on a fresh machine: formatting and lints, the
# Rust unit and integration tests, then the conformance suite, the real-client interop
# tests (npm cometd and faye under Node) and the browser tests (the same clients in headless
# Chromium) against a freshly built release binary on loopback; the applications tests
# (herald from TOML files, with the npm clients and Python's aiocometd) and the examples.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  step "installing Node.js (Debian packages)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  else
    echo "node and npm are needed: install Debian's nodejs and npm packages" >&2
    exit 1
  fi
fi

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  step "installing Python 3 with venv (Debian packages) for the aiocometd tests"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
  else
    echo "the aiocometd tests need python3 with venv: install Debian's python3-venv package" >&2
    exit 1
  fi
fi

if [ ! -x /usr/bin/chromium ]; then
  step "installing Chromium (Debian package) for the browser tests"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "the browser tests need Debian's chromium package (/usr/bin/chromium)" >&2
    exit 1
  fi
fi

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy (herald and herald-bench)"
cargo clippy --workspace --all-targets -- -D warnings
step "cargo test"
cargo test --workspace
step "cargo build --release (with the examples)"
cargo build --release --workspace --bins --examples

step "npm ci (conformance/ and examples/chat/)"
(cd conformance && npm ci --no-audit --no-fund --loglevel=error)
(cd examples/chat && npm ci --no-audit --no-fund --loglevel=error)

# Starts a server binary (with its arguments) in the background, its output in a log, and
# waits until the log names its endpoint; sets SERVER (its pid) and BAYEUX_URL.
SERVERS=()
stop_servers() {
  for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT
start_server() {
  local log
  log=$(mktemp)
  "$@" >"$log" 2>&1 &
  SERVER=$!
  SERVERS+=("$SERVER")
  BAYEUX_URL=""
  for _ in $(seq 1 100); do
    BAYEUX_URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*/cometd' "$log" | head -n 1 || true)
    [ -n "$BAYEUX_URL" ] && break
    sleep 0.1
  done
  if [ -z "$BAYEUX_URL" ]; then
    echo "$1 did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  export BAYEUX_URL
}

# herald on a free loopback port with the settings the suites expect, plus any flags. The
# suite floods one subscriber's queue past max_queue from one session (SES-4, ACK-4), which
# the default publish rate (LIM-12) would refuse: it is lifted here.
start_herald() {
  start_server target/release/herald --bind 127.0.0.1:0 --timeout 2000 --interval 0 \
    --max-interval 2000 --max-publish-rate 0 --log info "$@"
}

start_herald
step "conformance suite against $BAYEUX_URL"
node --test --test-concurrency=4 conformance/suite/
step "interop: npm cometd and faye clients against $BAYEUX_URL"
node --test --test-concurrency=1 conformance/interop/
step "browser: cometd and faye in headless Chromium against $BAYEUX_URL"
node --test --test-concurrency=1 conformance/browser/

start_herald
step "conformance CN-8: shutdown answers held connects (stops the herald at $BAYEUX_URL)"
BAYEUX_SHUTDOWN_PID=$SERVER node --test --test-name-pattern='^CN-8' conformance/suite/connect.test.mjs

restricted_transports=long-polling,cross-origin-long-polling
restricted_origins=http://allowed.example
start_herald --transports "$restricted_transports" --allowed-origins "$restricted_origins"
step "conformance TR-1, TR-5 against a herald with transports turned off and an origin list"
BAYEUX_TRANSPORTS=$restricted_transports BAYEUX_ALLOWED_ORIGINS=$restricted_origins \
  node --test --test-name-pattern='^TR-(1|5) ' conformance/suite/transports.test.mjs

# examples/guarded_chat.rs: a security policy, an authorizer, an extension, a listener and a
# server-side session, driven by the real clients.
start_server target/release/examples/guarded_chat 127.0.0.1:0
step "examples: guarded_chat with the real cometd and faye clients against $BAYEUX_URL; the chat example in Chromium"
HERALD_BIN=target/release/herald node --test --test-concurrency=1 conformance/examples/

step "the example configuration file: herald check, then a herald started from it"
target/release/herald check examples/herald.example.toml
start_server target/release/herald --config examples/herald.example.toml --bind 127.0.0.1:0
node -e '
  const hs = [{ channel: "/meta/handshake", version: "1.0", supportedConnectionTypes: ["long-polling"] }];
  fetch(process.env.BAYEUX_URL, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(hs) })
    .then((r) => r.json())
    .then(([reply]) => { if (!reply.successful) throw new Error(JSON.stringify(reply)); console.log("handshake ok"); });
'

# spec/apps.md: each test file starts its own herald from a TOML file, and the backends it
# calls (sign-in, webhooks), on free loopback ports.
step "apps: sign-in, rules, users, presence, webhooks and the API with the real cometd and faye clients"
HERALD_BIN=target/release/herald node --test --test-concurrency=1 conformance/apps/
step "apps: the same with the Python aiocometd client (aiocometd-ng)"
if [ ! -x conformance/.venv/bin/python ]; then
  python3 -m venv conformance/.venv
fi
conformance/.venv/bin/pip install --quiet --disable-pip-version-check -r conformance/apps/python/requirements.txt
HERALD_BIN=target/release/herald conformance/.venv/bin/python -m unittest -v conformance/apps/python/test_aiocometd.py

# spec/limits.md: hostile clients, each test one finding, against a herald with short limits.
step "hostile: slow, stalled and oversized requests, bad WebSocket frames, WebSocket clients that stop reading"
HERALD_BIN=target/release/herald node --test --test-concurrency=1 conformance/hostile/

step "benchmark smoke: herald-bench runs every scenario against herald (no timings asserted)"
HERALD_BIN=target/release/herald HERALD_BENCH_BIN=target/release/herald-bench bash benches/smoke.sh

step "all tests passed"
