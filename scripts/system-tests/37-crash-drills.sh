#!/usr/bin/env bash
# System test: crash drills that lose nothing; each ends with `hemo build`'s MANIFEST.sha256.
#  1. SIGKILL of the coordinator at every point of the commit (HEMO_DRILL_KILL_AT: before the
#     tables, between them, before the manifest, before the final rename, after it), then a
#     restart with the same arguments;
#  2. SIGKILL of the coordinator at random instants of runs (HEMO_DRILLS random kills in all,
#     default 50 with the 7 of drill 1), each followed by a restart with the same arguments;
#  3. a corrupted, an altered (still valid JSON) and a torn journal line: named on restart, those
#     exams redone, none lost;
#  4. a full disk (a small tmpfs, as root): a clear error, no release folder, and a resume that
#     finishes once the file system is enlarged.
# A worker process stays up through every coordinator death and reconnects.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
HEMO="${HEMO:-$repo/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
drills=${HEMO_DRILLS:-50}
work=$(mktemp -d)
pids=()
mounted=""
keeper=""
cleanup() {
    set +e
    touch "$work/stop-workers"
    [[ -n "$keeper" ]] && { kill -KILL "$keeper"; wait "$keeper"; } 2>/dev/null
    [[ -f "$work/worker.pid" ]] && kill -KILL "$(cat "$work/worker.pid")" 2>/dev/null
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    [[ -n "$mounted" ]] && umount "$mounted" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$work"

"$HEMO" synth --out cohort --cases 8 --seed 37 --in-plane 64 --slices 8 --positive-fraction 0.75 --threads 1 >/dev/null
"$HEMO" build --cohort cohort --out reference --threads 1 >/dev/null 2>&1
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
endpoint=tcp://127.0.0.1:$port
# One worker at a time, started again whenever it exits (a finished run sends it home).
(
    while [[ ! -e stop-workers ]]; do
        "$HEMO" worker --connect "$endpoint" --id drill --heartbeat-ms 100 --liveness 3 --job-delay-ms 40 \
            --first-contact-timeout 600 >>worker.log 2>&1 &
        echo $! >worker.pid
        wait $! || true
    done
) &
keeper=$!

mkdir -p log
# coordinator OUT [env...]: one coordinator life (output in log/NAME.out and .err); prints its exit status.
coordinator() {
    local out=$1; shift
    local rc=0
    env "$@" timeout 300 "$HEMO" coordinator --cohort cohort --out "$out" --bind "$endpoint" --heartbeat-ms 100 \
        >"log/$(basename "$out").out" 2>"log/$(basename "$out").err" || rc=$?
    echo "$rc"
}
# finished OUT: the release is complete, equals hemo build's, and nothing is left beside it.
finished() {
    local out=$1 name
    cmp -s reference/MANIFEST.sha256 "$out/MANIFEST.sha256" || fail "$out: MANIFEST.sha256 differs from hemo build's"
    (cd "$out" && sha256sum -c --quiet MANIFEST.sha256) || fail "$out: sha256sum -c fails"
    name=$(basename "$out")
    for leftover in ".$name.staging" ".$name.journal" ".$name.staging.old"; do
        [[ ! -e "$(dirname "$out")/$leftover" ]] || fail "$out: $leftover left behind"
    done
}
kills=0

# ---- 1. every point of the commit --------------------------------------------------------------
for point in tables tables-labels tables-boxes tables-yolo manifest rename journal-remove; do
    out=$work/commit-$point
    rc=$(coordinator "$out" HEMO_DRILL_KILL_AT="$point")
    [[ $rc == 137 ]] || fail "HEMO_DRILL_KILL_AT=$point: the coordinator exited $rc, not by SIGKILL: $(tail -n 3 "log/$(basename "$out").err")"
    kills=$((kills + 1))
    if [[ $point != journal-remove && -e "$out" ]]; then fail "killed at $point, yet $out exists (half a release)"; fi
    rc=$(coordinator "$out")
    [[ $rc == 0 ]] || fail "restart after a kill at $point exited $rc: $(tail -n 5 "log/$(basename "$out").err")"
    grep -q "8 resumed from the journal" "log/$(basename "$out").out" || fail "restart after a kill at $point did not resume all 8 exams: $(cat "log/$(basename "$out").out")"
    grep -q "^wire: 0 jobs" "log/$(basename "$out").out" || fail "restart after a kill at $point dispatched jobs again: $(grep '^wire' "log/$(basename "$out").out")"
    finished "$out"
done
echo "ok: killed at each of 7 commit points (tables x4, manifest, rename, journal removal); each restart committed hemo build's manifest without redoing an exam"

# ---- 2. random instants ------------------------------------------------------------------------
RANDOM=37
run=0
out=""
while ((kills < drills)); do
    if [[ -z "$out" ]]; then run=$((run + 1)); out=$work/random-$run; fi
    "$HEMO" coordinator --cohort cohort --out "$out" --bind "$endpoint" --heartbeat-ms 100 \
        >"log/$(basename "$out").out" 2>"log/$(basename "$out").err" &
    pid=$!
    pids+=("$pid")
    sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
    kill -KILL "$pid" 2>/dev/null || true
    rc=0; wait "$pid" 2>/dev/null || rc=$?
    if [[ $rc == 137 ]]; then
        kills=$((kills + 1))
        [[ ! -e "$out" || -e "$out/MANIFEST.sha256" ]] || fail "a kill left $out without its manifest (half a release)"
        if [[ -e "$out" && ! -e "$(dirname "$out")/.$(basename "$out").journal" ]]; then
            finished "$out"  # killed after the run had completed (its journal already removed)
            out=""
        fi
        continue
    fi
    [[ $rc == 0 ]] || fail "random-kill run $run: the coordinator exited $rc: $(tail -n 5 "log/$(basename "$out").err")"
    finished "$out"
    out=""
done
if [[ -n "$out" ]]; then
    rc=$(coordinator "$out")
    [[ $rc == 0 ]] || fail "the last restart exited $rc: $(tail -n 5 "log/$(basename "$out").err")"
    finished "$out"
fi
echo "ok: $kills SIGKILLs of the coordinator in all ($((kills - 7)) at random instants over $run runs); every run restarted with the same arguments ended with hemo build's manifest"

# ---- 3. a corrupted and a torn journal line ----------------------------------------------------
out=$work/journal
rc=$(coordinator "$out" HEMO_DRILL_KILL_AT=tables)
[[ $rc == 137 ]] || fail "the journal drill's first run exited $rc"
journal=$work/.journal.journal
[[ $(wc -l <"$journal") == 9 ]] || fail "expected a header and 8 entries in $journal, found $(wc -l <"$journal") lines"
victim=$(sed -n 3p "$journal" | grep -o '"caseName":"[^"]*"' | cut -d'"' -f4)
altered=$(sed -n 5p "$journal" | grep -o '"caseName":"[^"]*"' | cut -d'"' -f4)
python3 - "$journal" <<'PY'
import re, sys
p = sys.argv[1]
lines = open(p, "rb").read().split(b"\n")
lines[2] = lines[2][:40] + b"\x00garbage" + lines[2][60:]     # a corrupted line in the middle
m = re.compile(rb"[1-9]").search(lines[4], len(lines[4]) // 2)  # one digit changed: still valid JSON
lines[4] = lines[4][: m.start()] + (b"7" if m.group() != b"7" else b"3") + lines[4][m.end():]
last = lines[-2]
lines = lines[:-2] + [last[: len(last) // 2]]                  # a torn last line, no newline
open(p, "wb").write(b"\n".join(lines))
PY
rc=$(coordinator "$out")
[[ $rc == 0 ]] || fail "restart after corrupting the journal exited $rc: $(tail -n 5 "log/$(basename "$out").err")"
grep -q "journal line 3 (case $victim) is corrupt" "log/$(basename "$out").err" || fail "the corrupt journal line was not named: $(cat "log/$(basename "$out").err")"
grep -q "line 9 (case [^)]*) is torn" "log/$(basename "$out").err" || fail "the torn journal line was not named: $(cat "log/$(basename "$out").err")"
grep -q "journal line 5 (case $altered) is corrupt" "log/$(basename "$out").err" || fail "the altered (still valid JSON) journal line was not named: $(cat "log/$(basename "$out").err")"
grep -q "5 resumed from the journal" "log/$(basename "$out").out" || fail "not the 5 intact entries resumed: $(cat "log/$(basename "$out").out")"
grep -q "^wire: 3 jobs" "log/$(basename "$out").out" || fail "not exactly the 3 damaged exams redone: $(grep '^wire' "log/$(basename "$out").out")"
finished "$out"
echo "ok: a corrupted (line 3, $victim), an altered but valid (line 5, $altered) and a torn journal line were named; 5 exams resumed, 3 redone, manifest equals hemo build's"

# ---- 4. a full disk ----------------------------------------------------------------------------
if [[ $(id -u) != 0 ]]; then
    echo "SKIP: the full-disk drill needs root to mount a small tmpfs (drills 1-3 passed)"
    exit 0
fi
disk=$work/disk
mkdir -p "$disk"
mount -t tmpfs -o size=600k tmpfs "$disk" || { echo "SKIP: cannot mount a tmpfs here (drills 1-3 passed)"; exit 0; }
mounted=$disk
out=$disk/release
rc=$(coordinator "$out")
[[ $rc != 0 ]] || fail "the coordinator succeeded on a 600 kB file system; the drill needs it to run out of space"
grep -qi "no space left on device" "log/$(basename "$out").err" || fail "the full-disk error does not say so: $(tail -n 5 "log/$(basename "$out").err")"
[[ ! -e "$out" ]] || fail "a full disk left a release folder at $out"
echo "ok: full disk: exit $rc with \"$(grep -i -m1 'no space left' "log/$(basename "$out").err" | cut -c1-160)\"; no release folder"
mount -o remount,size=64m "$disk"
rc=$(coordinator "$out")
[[ $rc == 0 ]] || fail "the resume after freeing space exited $rc: $(tail -n 5 "log/$(basename "$out").err")"
finished "$out"
echo "ok: after enlarging the file system the same command resumed: $(grep -o '[0-9]* resumed from the journal' "log/$(basename "$out").out" || echo '0 resumed')"
echo "PASS: $kills coordinator SIGKILLs (7 at commit points), corrupted, altered and torn journal lines, and a full disk lost nothing: every release equals hemo build's"
