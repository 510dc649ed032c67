#!/usr/bin/env bash
# The test command: installs what the build needs, runs the Swift suite, then every system test
# under scripts/system-tests/ (real processes, packages and namespaces; each one skips with a
# clear message where this machine cannot run it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/test.sh [swift test options]

Installs dependencies, runs the Swift suite (`swift test`, options passed through), then the
system tests in scripts/system-tests/*.sh in name order with HEMO set to the debug binary.
HEMO_SKIP_SYSTEM_TESTS=1 runs the Swift suite only.
USAGE
    exit 0
fi
cd "$(dirname "$0")/.."
HEMO=$(scripts/setup.sh --debug | tail -n 1)
export HEMO
swift test "$@"
if [[ "${HEMO_SKIP_SYSTEM_TESTS:-0}" == "1" ]]; then
    echo "test: system tests skipped (HEMO_SKIP_SYSTEM_TESTS=1)"
    exit 0
fi
shopt -s nullglob
failed=()
for t in scripts/system-tests/*.sh; do
    echo "=== system test: $t"
    start=$SECONDS
    if bash "$t"; then
        echo "=== passed: $t ($((SECONDS - start)) s)"
    else
        echo "=== FAILED: $t ($((SECONDS - start)) s)"
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "test: system tests failed: ${failed[*]}" >&2
    exit 1
fi
echo "test: all system tests passed"
