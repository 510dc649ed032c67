#!/usr/bin/env bash
# System test: on an x86-64 CPU without AVX2 and FMA, `hemo` says so in a sentence and exits 3
# instead of dying of SIGILL. Runs the real binary under Debian's qemu-user with CPU models that
# lack them (Nehalem: neither; Haswell-noTSX with -avx2 or -fma: one missing) and with one that
# has both (Haswell-noTSX: runs as usual, and runs models with the AVX2 kernels, bit-identical to
# the host's AVX-512 ones).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
HEMO="${HEMO:-$repo/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ $(uname -m) == x86_64 ]] || { echo "SKIP: the AVX2/FMA requirement exists only on x86-64 (this is $(uname -m))"; exit 0; }
if ! command -v qemu-x86_64 >/dev/null 2>&1; then
    [[ $(id -u) == 0 ]] || { echo "SKIP: qemu-user is not installed and installing it needs root"; exit 0; }
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null 2>&1; }; } ||
        fail "cannot install qemu-user from Debian"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
check() {  # check CPU-MODEL EXPECTED-STATUS EXPECTED-TEXT
    local rc=0
    timeout 120 qemu-x86_64 -cpu "$1" "$HEMO" --version >"$work/out" 2>"$work/err" || rc=$?
    grep -v "TCG doesn't support" "$work/err" >"$work/err.clean" || true
    [[ $rc == "$2" ]] || fail "under -cpu $1, hemo --version exited $rc (expected $2): $(cat "$work/err.clean")"
    grep -qF "$3" "$work/$([[ $2 == 0 ]] && echo out || echo err.clean)" ||
        fail "under -cpu $1, hemo did not print '$3': $(cat "$work/out" "$work/err.clean")"
    echo "ok: -cpu $1: exit $rc, $(head -c 140 "$work/$([[ $2 == 0 ]] && echo out || echo err.clean)")"
}
check Nehalem 3 "this CPU lacks AVX2 and FMA, which this build of hemo needs"
check Haswell-noTSX,-avx2 3 "this CPU lacks AVX2, which this build of hemo needs"
check Haswell-noTSX,-fma 3 "this CPU lacks FMA, which this build of hemo needs"
check Haswell-noTSX 0 "$("$HEMO" --version)"
# Without AVX-512 (Haswell) the engine takes its AVX2 GEMM tiles and sigmoid: same bits as the
# host's run (AVX-512 tiles when the host has them), no SIGILL.
zoo="$repo/Tests/HemoInferenceTests/Fixtures/zoo"
for model in mobilevit resnet9ch; do
    mkdir -p "$work/native-$model" "$work/haswell-$model"
    "$HEMO" model run "$zoo/$model.onnx" --input "$zoo/$model.b1.input.npy" --output "$work/native-$model" --threads 2 >/dev/null
    timeout 300 qemu-x86_64 -cpu Haswell-noTSX "$HEMO" model run "$zoo/$model.onnx" --input "$zoo/$model.b1.input.npy" \
        --output "$work/haswell-$model" --threads 1 >/dev/null 2>"$work/err" ||
        fail "under -cpu Haswell-noTSX, hemo model run $model failed: $(grep -v "TCG doesn't support" "$work/err")"
    for out in "$work/native-$model"/*.npy; do
        cmp -s "$out" "$work/haswell-$model/$(basename "$out")" ||
            fail "$model: $(basename "$out") under -cpu Haswell-noTSX (AVX2 tiles) differs from the host's run"
    done
    echo "ok: -cpu Haswell-noTSX: hemo model run $model gives the host's bytes (host: $(grep -q ' avx512f ' /proc/cpuinfo && echo 'AVX-512 tiles' || echo 'AVX2 tiles'))"
done
echo "PASS: without AVX2 or FMA (qemu Nehalem, Haswell -avx2, Haswell -fma) hemo prints the reason and exits 3; with both it runs, and without AVX-512 its models give the same bits"
