#!/usr/bin/env bash
# System test: every shell script under scripts/ and cluster/ is clean under shellcheck.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/system-tests/51-shellcheck.sh

Runs Debian's shellcheck (installed with apt-get when missing) with -x (following `source`) on
every shell script tracked or present under scripts/ and cluster/: files named *.sh or *.bash,
and files whose first line is a sh/bash shebang. Fails on any finding, style included.
USAGE
    exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v shellcheck >/dev/null 2>&1; then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "SKIP: shellcheck is not installed and this user cannot apt-get install it"
        exit 0
    fi
    echo "installing shellcheck (apt-get)"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
    fi
fi
cd "$root"
scripts=()
while IFS= read -r -d '' f; do
    if [[ "$f" == *.sh || "$f" == *.bash ]] || head -n 1 "$f" | grep -qE '^#!.*[/ ](ba|da)?sh([[:space:]]|$)'; then
        scripts+=("$f")
    fi
done < <(find scripts cluster -type f -not -path '*/.*' -print0 2>/dev/null | sort -z)
((${#scripts[@]})) || { echo "FAIL: no shell script found under scripts/ and cluster/" >&2; exit 1; }
echo "shellcheck $(shellcheck --version | sed -n 's/^version: //p') on ${#scripts[@]} scripts"
if ! shellcheck -x "${scripts[@]}"; then
    echo "FAIL: shellcheck findings above" >&2
    exit 1
fi
echo "PASS: ${#scripts[@]} shell scripts clean under shellcheck"
