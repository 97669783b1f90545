#!/usr/bin/env bash
# The search tests start a real PostgreSQL server (initdb into a temporary folder, a loopback port, stopped at
# the end: tests/distributed/pgserver.py); install Debian's postgresql when its binaries are missing.
set -u
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0
command -v initdb >/dev/null 2>&1 && exit 0
exec bash "$(dirname "$0")/apt-ensure.sh" postgresql "the shared-study search tests"
