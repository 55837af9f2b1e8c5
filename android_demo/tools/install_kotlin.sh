#!/usr/bin/env bash
# Installs the Kotlin compiler from npm into <repo>/.tools (used by tests/test_kotlin_core.py).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
if [ ! -x "$root/.tools/node_modules/kotlin-compiler/bin/kotlinc" ]; then
  npm install --silent --no-audit --no-fund --prefix "$root/.tools" kotlin-compiler@2.1.20 >/dev/null
fi
echo "kotlinc: $root/.tools/node_modules/kotlin-compiler/bin/kotlinc"
