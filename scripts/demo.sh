#!/usr/bin/env bash
# The main job on the embedded default: installs, builds and runs `hemo` end to end.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    echo "Usage: scripts/demo.sh [WORKDIR]   (installs dependencies, builds, runs the default job)"
    exit 0
fi
cd "$(dirname "$0")/.."
hemo=$(scripts/setup.sh --release | tail -n 1)
work=${1:-${TMPDIR:-/tmp}/hemocluster-demo}
mkdir -p "$work"
"$hemo" demo --work "$work"
