#!/usr/bin/env bash
# The test command: installs what the build needs, runs the Swift suite, then every system test
# under scripts/system-tests/ (real processes, packages and namespaces; each one skips with a
# clear message where this machine cannot run it).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    cat <<'USAGE'
Usage: scripts/test.sh [swift test options]

Installs dependencies (scripts/setup.sh; what the system tests need comes from
scripts/test-deps.sh in the background while SwiftPM builds), runs the Swift suite
(`swift test`, options passed through), then the
system tests in scripts/system-tests/*.sh in name order with HEMO set to the debug binary.
Each system test ends with PASS, FAIL or "SKIP: reason"; the last line of the output is
"N passed, N failed, N skipped". With CI=true a skip fails the run unless the test is listed in
scripts/system-tests/skip-allowed.txt with the reason this machine cannot run it.
HEMO_SKIP_SYSTEM_TESTS=1 runs the Swift suite only.
USAGE
    exit 0
fi
cd "$(dirname "$0")/.."
scripts/setup.sh --packages-only
# What the system tests download (Debian and PyPI packages, nnU-Net's virtualenv, the image
# test's Debian base) comes in the background while SwiftPM builds and runs the Swift suite.
deps_pid="" deps_log=""
if [[ "${HEMO_SKIP_SYSTEM_TESTS:-0}" != "1" ]]; then
    deps_log=$(mktemp)
    bash scripts/test-deps.sh >"$deps_log" 2>&1 &
    deps_pid=$!
fi
HEMO=$(scripts/setup.sh --debug | tail -n 1)
export HEMO
swift test "$@"
if [[ "${HEMO_SKIP_SYSTEM_TESTS:-0}" == "1" ]]; then
    echo "test: system tests skipped (HEMO_SKIP_SYSTEM_TESTS=1)"
    exit 0
fi
deps_rc=0
wait "$deps_pid" || deps_rc=$?
cat "$deps_log"
rm -f "$deps_log"
((deps_rc == 0)) || echo "test: scripts/test-deps.sh failed (exit $deps_rc); the tests that need what is missing will say so"
shopt -s nullglob
# Each system test ends with a last line `PASS…`, `FAIL…` or `SKIP: reason`. A test that exits 0
# without one of them failed (it ended early, or skipped silently). Under CI (CI=true) a skip is a
# failure unless the test is listed in scripts/system-tests/skip-allowed.txt with the reason.
allow=scripts/system-tests/skip-allowed.txt
skip_allowed() {
    [[ -f "$allow" ]] && grep -Eq "^$(basename "$1")[[:space:]]+[^[:space:]]" "$allow"
}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Runs one system test. Its standard output goes to $logs/NAME.out (and to the terminal when $2
# is "show"); its standard error to the terminal ("show") or to $logs/NAME.err; its verdict line
# ("PASS|FAIL|SKIP<tab>message") goes to $logs/NAME.verdict.
run_test() {
    local t=$1 show=$2 name log rc=0 last took start=$SECONDS kind message
    name=$(basename "$t")
    log=$logs/$name.out
    if [[ "$show" == show ]]; then
        echo "=== system test: $t"
        bash "$t" | tee "$log" || rc=$?
    else
        bash "$t" >"$log" 2>"$logs/$name.err" || rc=$?
    fi
    last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 || true)
    took=$((SECONDS - start))
    if ((rc != 0)); then
        kind=FAIL message="$t (exit $rc, $took s)"
    elif [[ "$last" == SKIP:* ]]; then
        if [[ "${CI:-}" == "true" ]] && ! skip_allowed "$t"; then
            kind=FAIL message="$t skipped under CI and is not in $allow: ${last#SKIP: } ($took s)"
        else
            kind=SKIP message="$t: ${last#SKIP: } ($took s)"
        fi
    elif [[ "$last" == PASS* ]]; then
        kind=PASS message="$t ($took s)"
    else
        kind=FAIL message="$t exited 0 without a final PASS or SKIP line (last line: '$last') ($took s)"
    fi
    printf '%s\t%s\n' "$kind" "$message" >"$logs/$name.verdict"
    [[ "$show" != show ]] || echo "=== $kind: $message"
}
# Two lanes. A test whose header says `# lane: background` mostly waits (daemons, timers, the
# network) and runs in a second lane beside the others; its output is printed when it ends.
# HEMO_TEST_LANES=1 runs every test in order, one at a time.
foreground=() background=()
for t in scripts/system-tests/*.sh; do
    if [[ "${HEMO_TEST_LANES:-2}" != 1 ]] && head -n 30 "$t" | grep -q '^# lane: background'; then
        background+=("$t")
    else
        foreground+=("$t")
    fi
done
lane_pid=""
if ((${#background[@]})); then
    echo "test: background lane: ${background[*]}"
    (for t in "${background[@]}"; do run_test "$t" quiet; done) </dev/null &
    lane_pid=$!
fi
for t in "${foreground[@]}"; do run_test "$t" show; done
if [[ -n "$lane_pid" ]]; then
    wait "$lane_pid" || true
    for t in "${background[@]}"; do
        name=$(basename "$t")
        echo "=== system test (background lane): $t"
        cat "$logs/$name.out" 2>/dev/null || true
        cat "$logs/$name.err" >&2 2>/dev/null || true
        [[ -f "$logs/$name.verdict" ]] ||
            printf 'FAIL\t%s did not report (the background lane ended early)\n' "$t" >"$logs/$name.verdict"
        echo "=== $(cut -f1 "$logs/$name.verdict"): $(cut -f2- "$logs/$name.verdict")"
    done
fi
passed=0 failed=0 skipped=0
failures=() skips=()
for t in scripts/system-tests/*.sh; do
    case "$(cut -f1 "$logs/$(basename "$t").verdict")" in
        PASS) passed=$((passed + 1)) ;;
        SKIP) skipped=$((skipped + 1)); skips+=("$t") ;;
        *) failed=$((failed + 1)); failures+=("$t") ;;
    esac
done
((${#skips[@]} == 0)) || echo "test: skipped: ${skips[*]}"
((${#failures[@]} == 0)) || echo "test: failed: ${failures[*]}" >&2
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
