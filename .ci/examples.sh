#!/usr/bin/env bash
# Runs the README's run command's binary with zero config (the mock vendor)
# and drives it with every example client that can run here: Go, Node
# (the official openai npm package) and curl. The Python example needs PyPI,
# which this network does not reach.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(mktemp -d)/genrouter"
go build -o "$bin" ./cmd/genrouter
port=18082
env -u OPENAI_API_KEY -u GEMINI_API_KEY -u GOOGLE_API_KEY \
  "$bin" serve --listen "127.0.0.1:$port" --log-level warn &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
export GENROUTER_URL="http://127.0.0.1:$port/v1"

echo "--- examples/go"
go run ./examples/go >/dev/null
echo "--- examples/curl.sh"
bash examples/curl.sh >/dev/null
if command -v npm >/dev/null 2>&1; then
  echo "--- examples/node"
  (cd examples/node && for i in 1 2 3; do npm ci --no-audit --no-fund --loglevel=error && break || sleep 5; done && node index.mjs >/dev/null)
else
  echo "--- examples/node skipped: npm is not installed"
fi
echo "examples: all passed"
