#!/usr/bin/env bash
# Installs @jmondi/oauth2-server (pinned by package-lock.json) into interop/ts-oauth2-server/node_modules
# for the token-exchange interop tests (tests/interop_token_exchange.rs):
#
#     bash interop/ts-oauth2-server/prepare.sh
#
# `npm ci` runs only when the lock file or the Node.js version changed since the last
# install (a stamp in node_modules). Fails loudly, naming what to install, when node or
# npm is missing: it never pretends to have succeeded.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fail() { echo "prepare.sh: FATAL: $*" >&2; exit 1; }

command -v node >/dev/null || fail "node is missing (Debian: apt-get install nodejs npm; Node.js 20 or later)"
command -v npm >/dev/null || fail "npm is missing (Debian: apt-get install npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || fail "Node.js $(node --version) is too old: the test server needs 20 or later"

stamp_file="$here/node_modules/.grantkit-interop-stamp"
stamp="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1) $(node --version)"
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
  echo "prepare.sh: node_modules is up to date ($(node --version))" >&2
else
  echo "prepare.sh: npm ci in $here" >&2
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error) \
    || fail "npm ci failed (is registry.npmjs.org reachable?)"
  echo "$stamp" > "$stamp_file"
fi
(cd "$here" && node --input-type=module -e 'await import("@jmondi/oauth2-server")' 2>/dev/null) \
  || fail "@jmondi/oauth2-server does not load from $here/node_modules"
echo "$here/node_modules"
