#!/usr/bin/env bash
# The test command: installs what the build needs, then runs the whole suite.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    echo "Usage: scripts/test.sh [swift test options]   (installs dependencies, runs the suite)"
    exit 0
fi
cd "$(dirname "$0")/.."
scripts/setup.sh --debug >/dev/null
swift test "$@"
