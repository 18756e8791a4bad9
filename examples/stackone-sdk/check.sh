#!/usr/bin/env bash
# Starts a throw-away gateway (fresh SQLite in a temp dir, random admin token) and runs
# example.mjs against it. Used by CI; `GATEWAY_BIN` overrides the binary (default: the debug build,
# under CARGO_TARGET_DIR when that is set).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${GATEWAY_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/assessment-gateway}"
[ -x "$bin" ] || (cd "$root" && cargo build --quiet)

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token="sdk-check-$(date +%s%N)"
(cd "$work" && ADMIN_TOKEN="$token" LISTEN_ADDR="127.0.0.1:$port" LOG_FORMAT=json exec "$bin") > "$work/gateway.log" 2>&1 &
gateway=$!
trap 'kill $gateway 2>/dev/null || true; wait $gateway 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

cd "$here"
[ -d node_modules/@stackone/stackone-client-ts ] || npm ci --no-audit --no-fund
GATEWAY_URL="http://127.0.0.1:$port" GATEWAY_ADMIN_TOKEN="$token" node example.mjs
