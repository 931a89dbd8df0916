#!/usr/bin/env bash
# The Debian packages the test suite needs, installed when missing: PostgreSQL's server binaries
# (the event store's tests start a throwaway server of their own, tests/postgres_server.py) and
# chromium (the pages' tests drive it with Playwright, which cannot download its own browsers here).
set -euo pipefail
if ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing Debian's postgresql (the event store's tests run against a real PostgreSQL)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing Debian's chromium (the pages' tests run in a real browser)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
