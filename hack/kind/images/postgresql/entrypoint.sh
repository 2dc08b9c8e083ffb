#!/bin/bash
# Starts PostgreSQL as the official image does, for what the chart uses. On the first start (no
# cluster in $PGDATA) it makes one: POSTGRES_USER as its superuser with POSTGRES_PASSWORD, the
# database POSTGRES_DB, password (SCRAM) authentication for every TCP connection, listening on all
# addresses. Later starts only start the server. Either way postgres replaces this script, so it
# is PID 1 and gets the stop signal itself.
set -euo pipefail

# No command, or only options (`docker run IMAGE -c name=value`): the server.
if [ $# -eq 0 ] || [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?is not set: the superuser needs a password}"
  user=${POSTGRES_USER:-postgres}
  database=${POSTGRES_DB:-$user}
  # Made beside $PGDATA and renamed into place when complete, so a start that dies half-way
  # leaves nothing the next start takes for a cluster; it begins again. An empty $PGDATA (a mount
  # point, say, which cannot be replaced) is made in place.
  staging=$PGDATA.init
  if [ -d "$PGDATA" ] && [ -z "$(ls -A "$PGDATA")" ]; then
    staging=$PGDATA
  else
    rm -rf "$staging"
  fi
  # The local socket (in this container only) is trusted, as in the official image.
  initdb --pgdata="$staging" --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    --no-instructions >&2
  echo "host all all all scram-sha-256" >>"$staging/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$staging/postgresql.conf"
  if [ "$database" != postgres ]; then
    # Single-user mode: no server, no socket, no password needed yet. Double quotes in the name
    # are doubled, so any name is one identifier.
    postgres --single -D "$staging" postgres \
      <<<"CREATE DATABASE \"${database//\"/\"\"}\"" >/dev/null
  fi
  [ "$staging" = "$PGDATA" ] || mv -T "$staging" "$PGDATA"
fi

exec "$@"
