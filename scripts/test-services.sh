#!/usr/bin/env bash
# Makes sure what the tests need is installed: the PostgreSQL server binaries (tests start a
# throwaway cluster of their own on 127.0.0.1). The shared LEAN/EDGAR data is optional: tests
# that need it skip with a reason when ../shared/data is absent.
set -euo pipefail
have_pg() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; }
if have_pg; then
  echo "test services: PostgreSQL binaries found ($(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | head -1))"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test services: installing PostgreSQL server binaries (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  have_pg && exit 0
fi
echo "test services: PostgreSQL server binaries (initdb, pg_ctl) are missing." >&2
echo "  Install them (Debian: apt-get install postgresql) or set INTEL_TEST_PG_DSN=postgresql://... " >&2
echo "  to a database the tests may create tables in." >&2
exit 1
