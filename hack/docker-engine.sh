#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts Debian's dockerd in the background when none does
# (machines without a service manager), and waits until it answers.
set -euo pipefail
docker=${DOCKER:-docker}
log=${CACHE:-$HOME/.cache/checkout-operator}/dockerd.log
if "$docker" info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null; then
  echo "no Docker engine answers and dockerd is not installed (apt-get install docker.io)" >&2
  exit 1
fi
mkdir -p "$(dirname "$log")"
echo "starting dockerd (log: $log)" >&2
nohup dockerd >>"$log" 2>&1 &
for _ in $(seq 1 60); do
  if "$docker" info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "dockerd did not answer within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2
exit 1
