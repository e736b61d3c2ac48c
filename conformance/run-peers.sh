#!/usr/bin/env bash
# Run the conformance suite against peer servers, one at a time, on 127.0.0.1.
#
#   conformance/run-peers.sh                 # faye and cometd, and herald if it is built
#   conformance/run-peers.sh faye            # only some of: faye cometd herald
#
# For each server: start it, wait until it answers a handshake, run the suite
# (node --test --test-concurrency=4 suite/) with BAYEUX_URL set, stop it. Then start a
# fresh one for CN-8, which stops the server itself (SIGTERM while a connect is held).
# For herald, TR-1 and TR-5 run once more against a herald started with transports turned
# off and an origin list. node's output goes to conformance/results/<server>.txt
# (git-ignored), the extra runs appended at the end. The exit status is 0 when every run happened, whatever the tests
# said; 2 when a server could not be started.
#
# Environment: HERALD_BIN (default ../target/release/herald from this folder),
# PORT_BASE (default 18110: faye +0, cometd +10, herald +20).
set -u
cd "$(dirname "$0")"

PORT_BASE=${PORT_BASE:-18110}
HERALD_BIN=${HERALD_BIN:-../target/release/herald}
RESULTS=results
mkdir -p "$RESULTS"

# The servers' settings: timeout 2000 ms, interval 0, maxInterval 2000 ms. Faye and the
# CometD Node server advertise no maxInterval; the suite then uses BAYEUX_MAX_INTERVAL.
export BAYEUX_TIMEOUT=2000 BAYEUX_INTERVAL=0 BAYEUX_MAX_INTERVAL=2000

if [ $# -eq 0 ]; then
  set -- faye cometd
  if [ -x "$HERALD_BIN" ]; then set -- "$@" herald; fi
fi

PID=""

start_server() { # name port [extra herald options...]
  local name=$1 port=$2
  shift 2
  case "$name" in
    faye) node peers/faye-server.mjs "$port" >>"$RESULTS/$name.server.log" 2>&1 & ;;
    cometd) node peers/cometd-server.mjs "$port" >>"$RESULTS/$name.server.log" 2>&1 & ;;
    herald)
      "$HERALD_BIN" --bind "127.0.0.1:$port" --timeout 2000 --interval 0 --max-interval 2000 "$@" \
        >>"$RESULTS/$name.server.log" 2>&1 & ;;
    *) echo "unknown server: $name (faye, cometd, herald)" >&2; return 1 ;;
  esac
  PID=$!
  # Ready when a handshake succeeds (at most ~10 s).
  node -e '
    const url = process.argv[1];
    const body = JSON.stringify([{ channel: "/meta/handshake", version: "1.0", supportedConnectionTypes: ["long-polling"] }]);
    const deadline = Date.now() + 10000;
    (async () => {
      while (Date.now() < deadline) {
        try {
          const r = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } });
          const j = await r.json();
          if (j?.[0]?.successful) {
            await fetch(url, { method: "POST", headers: { "content-type": "application/json", cookie: r.headers.get("set-cookie")?.split(";")[0] ?? "" },
              body: JSON.stringify([{ channel: "/meta/disconnect", clientId: j[0].clientId }]) });
            process.exit(0);
          }
        } catch {}
        await new Promise((ok) => setTimeout(ok, 200));
      }
      process.exit(1);
    })();' "http://127.0.0.1:$port/cometd"
}

stop_server() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID" 2>/dev/null
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$PID" 2>/dev/null && kill -9 "$PID" 2>/dev/null
  fi
  wait "$PID" 2>/dev/null
  PID=""
}
trap stop_server EXIT

status=0
for name in "$@"; do
  case "$name" in
    faye) port=$PORT_BASE ;;
    cometd) port=$((PORT_BASE + 10)) ;;
    herald) port=$((PORT_BASE + 20)) ;;
    *) echo "unknown server: $name (faye, cometd, herald)" >&2; status=2; continue ;;
  esac
  out="$RESULTS/$name.txt"
  url="http://127.0.0.1:$port/cometd"
  : >"$RESULTS/$name.server.log"
  echo "== $name at $url"
  if ! start_server "$name" "$port"; then
    echo "   $name did not start; see $RESULTS/$name.server.log" >&2
    stop_server; status=2; continue
  fi
  {
    echo "# server: $name, BAYEUX_URL=$url, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# command: BAYEUX_URL=$url BAYEUX_TIMEOUT=$BAYEUX_TIMEOUT BAYEUX_INTERVAL=$BAYEUX_INTERVAL BAYEUX_MAX_INTERVAL=$BAYEUX_MAX_INTERVAL node --test --test-concurrency=4 suite/"
  } >"$out"
  BAYEUX_URL=$url node --test --test-concurrency=4 suite/ >>"$out" 2>&1
  stop_server

  # CN-8: a fresh server, stopped by the test.
  if ! start_server "$name" "$port"; then
    echo "   $name did not start for CN-8" >&2
    stop_server; status=2; continue
  fi
  {
    echo
    echo "# --- CN-8, run alone: BAYEUX_SHUTDOWN_PID=<server pid> node --test --test-name-pattern='^CN-8' suite/connect.test.mjs"
  } >>"$out"
  BAYEUX_URL=$url BAYEUX_SHUTDOWN_PID=$PID node --test --test-name-pattern='^CN-8' suite/connect.test.mjs >>"$out" 2>&1
  stop_server

  # herald only: TR-1 and TR-5 again with transports turned off and an origin list, the
  # parts of them that the default configuration cannot show.
  if [ "$name" = herald ] && "$HERALD_BIN" --help | grep -q -- --allowed-origins; then
    restricted_transports=long-polling,cross-origin-long-polling
    restricted_origins=http://allowed.example
    if start_server "$name" "$port" --transports "$restricted_transports" --allowed-origins "$restricted_origins"; then
      {
        echo
        echo "# --- TR-1, TR-5 with herald --transports $restricted_transports --allowed-origins $restricted_origins:"
        echo "#     BAYEUX_TRANSPORTS=$restricted_transports BAYEUX_ALLOWED_ORIGINS=$restricted_origins node --test --test-name-pattern='^TR-(1|5) ' suite/transports.test.mjs"
      } >>"$out"
      BAYEUX_URL=$url BAYEUX_TRANSPORTS=$restricted_transports BAYEUX_ALLOWED_ORIGINS=$restricted_origins \
        node --test --test-name-pattern='^TR-(1|5) ' suite/transports.test.mjs >>"$out" 2>&1
    else
      echo "   herald did not start with --transports/--allowed-origins" >&2; status=2
    fi
    stop_server
  fi

  echo "   $(grep -cE '^not ok' "$out") failing, $(grep -cE '^ok .* - [A-Z]+-[0-9]+ [^#]*$' "$out") passing (extra runs included); details in $out"
done
exit $status
