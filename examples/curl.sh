#!/usr/bin/env bash
# genrouter with plain curl (7.76+); pretty-prints with jq when it is installed.
#   GENROUTER_URL=http://127.0.0.1:8082/v1 bash examples/curl.sh
set -euo pipefail

URL="${GENROUTER_URL:-http://127.0.0.1:8082/v1}"
URL="${URL%/}"
ROOT="${URL%/v1}" # /health sits beside /v1, not under it
KEY="${GENROUTER_API_KEY:-unused}"
MODEL="${GENROUTER_MODEL:-gpt-4o-mini}"
EMBED_MODEL="${GENROUTER_EMBED_MODEL:-text-embedding-3-small}"

HEADERS="$(mktemp)"
trap 'rm -f "$HEADERS"' EXIT

# pretty [JQ_FILTER]: jq when installed, else raw JSON cut at 2000 bytes
pretty() { if command -v jq >/dev/null 2>&1; then jq "${1:-.}"; else head -c 2000; echo; fi; }
# api METHOD PATH [JSON [more curl args...]]
api() {
  local method="$1" path="$2" body="${3:-}"
  shift $(($# < 3 ? $# : 3))
  curl -sS --fail-with-body -X "$method" "$URL$path" \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
    ${body:+-d "$body"} "$@"
}

echo "== health: the gateway is up"
curl -sS --fail-with-body "$ROOT/health" | pretty

echo "== chat: one completion, and the X-Genrouter-* headers saying who served it"
api POST /chat/completions \
  '{"model":"'"$MODEL"'","messages":[{"role":"user","content":"Say hello in five words."}]}' \
  -D "$HEADERS" | pretty
grep -i '^x-genrouter-\|^x-request-id' "$HEADERS" | tr -d '\r' || true

echo "== stream: server-sent events as they arrive; the last chunk carries usage"
api POST /chat/completions \
  '{"model":"'"$MODEL"'","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Count from 1 to 5."}]}' \
  -N
echo

echo "== tools: the model answers with a get_weather tool call"
api POST /chat/completions '{
  "model": "'"$MODEL"'",
  "messages": [{"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}],
  "tools": [{"type": "function", "function": {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
  }}]
}' | pretty

echo "== models: every model the gateway serves"
MODELS="$(api GET /models)"
printf '%s\n' "$MODELS" | pretty

FIRST="$(printf '%s' "$MODELS" | grep -o '"id" *: *"[^"]*"' | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')"
echo "== one model by id: $FIRST"
api GET "/models/$FIRST" | pretty

VENDOR="${GENROUTER_VENDOR:-$(grep -i '^x-genrouter-vendor:' "$HEADERS" | head -n1 | cut -d: -f2 | tr -d ' \r' || true)}"
echo "== ?vendor=$VENDOR: the same kind of chat, pinned to one vendor"
api POST "/chat/completions?vendor=$VENDOR" \
  '{"model":"'"$MODEL"'","messages":[{"role":"user","content":"Which vendor are you?"}]}' \
  -D "$HEADERS" | pretty
grep -i '^x-genrouter-vendor' "$HEADERS" | tr -d '\r' || true

echo "== embeddings: one vector per input ($EMBED_MODEL)"
api POST /embeddings '{"model":"'"$EMBED_MODEL"'","input":["hello","world"]}' |
  pretty '{model, usage, data: [.data[] | {index, dimensions: (.embedding | length)}]}'
