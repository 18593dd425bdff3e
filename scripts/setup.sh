#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust, when missing. Idempotent; safe to rerun.
set -euo pipefail

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
# A real Redis for the Redis store's tests (they start their own servers on free ports).
command -v redis-server >/dev/null || need_apt+=(redis-server)
# A real PostgreSQL for the PostgreSQL store's tests (they run initdb and their own
# servers on free ports, as the unprivileged postgres user when run as root).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The openssl tool makes the PostgreSQL TLS test's certificates (tok's TLS is rustls: no
# build needs OpenSSL's libraries).
command -v openssl >/dev/null || need_apt+=(openssl)
# A real browser for the web tests: Debian's Chromium and its WebDriver.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# jq: README's shell walk-through reads token responses with it.
command -v jq >/dev/null || need_apt+=(jq)
if ((${#need_apt[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# PyJWT: the interoperability tests check tok against another widely used implementation.
if ! python3 -c 'import jwt' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'PyJWT>=2.8' \
    || python3 -m pip install --quiet --break-system-packages 'PyJWT>=2.8'
fi
