#!/usr/bin/env bash
# Installs (if missing) and starts a local PostgreSQL for the tests, creates
# a role and a database for them, waits until it accepts connections, and
# prints on its LAST line of stdout:
#
#   export GENROUTER_TEST_DATABASE_URL='postgres://genrouter:genrouter@127.0.0.1:PORT/genrouter_test?sslmode=disable'
#
# Usage (as root, on Debian): eval "$(.ci/start-postgres.sh | tail -1)"
# Idempotent: running it again on a running cluster just prints the line.
# Everything else goes to stderr.
set -euo pipefail

ROLE=genrouter
PASSWORD=genrouter
DB=genrouter_test

log() { echo "start-postgres: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "must run as root"
	exit 1
fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	log "installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y postgresql >&2
fi

VERSION=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -1)
CLUSTER=main

# The package creates the cluster; create it if it was removed.
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {found=1} END {exit !found}'; then
	log "creating cluster $VERSION/$CLUSTER"
	pg_createcluster "$VERSION" "$CLUSTER" >&2
fi

status=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $4}')
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c {print $3}')
if [ "$status" != online ]; then
	log "starting cluster $VERSION/$CLUSTER on port $PORT"
	# pg_ctlcluster works with or without systemd; fall back to the service.
	pg_ctlcluster "$VERSION" "$CLUSTER" start >&2 || service postgresql start >&2
fi

log "waiting for connections on 127.0.0.1:$PORT"
for i in $(seq 1 60); do
	if pg_isready -q -h 127.0.0.1 -p "$PORT"; then
		break
	fi
	if [ "$i" = 60 ]; then
		log "PostgreSQL did not accept connections within 30s"
		tail -n 50 "/var/log/postgresql/postgresql-$VERSION-$CLUSTER.log" >&2 || true
		exit 1
	fi
	sleep 0.5
done

psql_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@"; }

# Role (password reset every time, so a stale one does not matter) and database.
psql_admin -d postgres >&2 <<SQL
DO \$\$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
		CREATE ROLE $ROLE LOGIN;
	END IF;
END
\$\$;
ALTER ROLE $ROLE WITH LOGIN PASSWORD '$PASSWORD';
SQL
if [ "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
	psql_admin -d postgres -c "CREATE DATABASE $DB OWNER $ROLE" >&2
fi

URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB?sslmode=disable"

# Check that the tests' credentials work over TCP.
if ! PGPASSWORD=$PASSWORD psql -X -q -h 127.0.0.1 -p "$PORT" -U "$ROLE" -d "$DB" -tAc 'SELECT 1' >/dev/null; then
	log "cannot connect as $ROLE over TCP"
	exit 1
fi
log "ready: database $DB on 127.0.0.1:$PORT"

echo "export GENROUTER_TEST_DATABASE_URL='$URL'"
