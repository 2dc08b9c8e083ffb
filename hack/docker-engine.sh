#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts Debian's dockerd in the background when none does
# (machines without a service manager), and waits until it answers. Does nothing when one does.
set -euo pipefail
docker=${DOCKER:-docker}
log=${CACHE:-$HOME/.cache/checkout-operator}/dockerd.log
timeout=${DOCKERD_TIMEOUT:-60}

command -v "$docker" >/dev/null || {
  echo "no Docker client ($docker) is installed (apt-get install docker.io)" >&2
  exit 1
}
if "$docker" info >/dev/null 2>&1; then exit 0; fi
command -v dockerd >/dev/null || {
  echo "no Docker engine answers and dockerd is not installed (apt-get install docker.io)" >&2
  exit 1
}
if [ "$(id -u)" != 0 ]; then
  echo "no Docker engine answers, and starting dockerd needs root: start the docker service," \
    "or run sudo $0" >&2
  exit 1
fi
# A dockerd still starting up (another make, a moment ago) is waited for, not started twice.
running() { grep -qx dockerd /proc/[0-9]*/comm 2>/dev/null; }
if ! running; then
  mkdir -p "$(dirname "$log")"
  echo "starting dockerd (log: $log)" >&2
  nohup dockerd >>"$log" 2>&1 </dev/null &
fi
for _ in $(seq 1 "$timeout"); do
  if "$docker" info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "dockerd did not answer within $timeout s (its log: $log)" >&2
if [ -f "$log" ]; then tail -n 20 "$log" >&2; fi
exit 1
