#!/usr/bin/env bash
# System test: Package.swift's dependencies equal the modules each target imports.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/system-tests/39-module-graph.sh

Runs scripts/peers/check-module-graph.py: for every target in Package.swift, the dependencies it
declares must be exactly the package modules its Swift files import (a test target may also
depend on the `hemo` executable, which it runs; `hemo` links CCPUCheck for its constructor).
Fails naming each declared-but-unused and used-but-undeclared dependency. Takes a second.
USAGE
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
if out=$(python3 "$root/scripts/peers/check-module-graph.py" "$root"); then
    echo "$out" | tail -n 1
    echo "PASS: every target's dependencies equal its imports"
else
    echo "$out"
    echo "FAIL: Package.swift's dependencies differ from the imports (see above)"
    exit 1
fi
