#!/usr/bin/env bash
# `prisma generate` without network: the CLI insists on resolving a native
# schema engine it never runs for generate; point it at any existing file.
set -euo pipefail
cd "$(dirname "$0")/.."
export PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING=1
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-$PWD/package.json}"
export PRISMA_HIDE_UPDATE_MESSAGE=1
exec npx --no-install prisma generate "$@"
