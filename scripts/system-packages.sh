#!/usr/bin/env bash
# The Debian packages the test suite needs, installed when missing: PostgreSQL's server binaries
# (the event store's tests start a throwaway server of their own, tests/postgres_server.py).
set -euo pipefail
if ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing Debian's postgresql (the event store's tests run against a real PostgreSQL)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
