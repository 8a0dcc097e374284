#!/usr/bin/env bash
# Installs redis-server if missing, starts it on 127.0.0.1:6379 (daemonised, no systemd), waits
# until it answers PING, and prints as its LAST line the variable the tests look for:
#   eval "$(.ci/start-redis.sh | tail -1)"
# Progress goes to stderr. Idempotent: a Redis already answering on the port is reused.
set -euo pipefail

PORT="${REDIS_PORT:-6379}"
URL="redis://127.0.0.1:${PORT}/0"
log() { echo "start-redis: $*" >&2; }

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	log "installing redis-server"
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >&2
	$SUDO apt-get install -y -qq --no-install-recommends redis-server >&2
fi

if redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; then
	log "redis already answering on 127.0.0.1:${PORT}"
else
	DIR="${TMPDIR:-/tmp}/genrouter-redis-${PORT}"
	mkdir -p "$DIR"
	log "starting redis-server on 127.0.0.1:${PORT} (dir $DIR)"
	redis-server --bind 127.0.0.1 --port "$PORT" --daemonize yes \
		--dir "$DIR" --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" \
		--save "" --appendonly no --protected-mode yes >&2
	for _ in $(seq 1 100); do
		if redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; then
			break
		fi
		sleep 0.1
	done
	if ! redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; then
		log "redis-server did not answer PING within 10s; its log:"
		tail -n 30 "$DIR/redis.log" >&2 || true
		exit 1
	fi
	log "redis-server $(redis-server --version | awk '{print $3}') is up (pid $(cat "$DIR/redis.pid"))"
fi

echo "export GENROUTER_TEST_REDIS_URL=${URL}"
