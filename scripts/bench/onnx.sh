#!/usr/bin/env bash
# HemoInference vs onnxruntime on the same model files and the same inputs.
#
# Models: the reference 4-level segmentation U-Net (16-128 channels, 3 input channels,
# Conv-BN-ReLU, MaxPool, Resize, Concat), built by scripts/bench/onnx_peer.py with onnx.helper,
# and the default model (Sources/HemoInference/DefaultModel/hemo-default.onnx: 5-level U-Net,
# 4-64 channels, ConvTranspose, classification head).
# For 256x256 and 512x512 slices, 1 thread and all threads: median ms per slice over RUNS
# runs (default 7) after a warm-up, ratio ours/ort (target <= 1.25), our GFLOP/s next to the
# machine's FMA peak, and peak RSS (/usr/bin/time -v) next to the memory target
# weights + 2 x (largest set of activations live around one node). engine_MB is our peak RSS
# minus the RSS of the hemo process before it loads the model (the Swift runtime and the CLI's
# libraries, about 22 MB, are not the engine's): the figure to hold against the target.
#
# Needs: python3 with numpy, onnx, onnxruntime (pip); /usr/bin/time (Debian: time).
# Usage: scripts/bench/onnx.sh [RUNS]
set -euo pipefail
runs="${1:-7}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

swift build -c release --product hemo >&2
hemo="$(swift build -c release --show-bin-path)/hemo"
python3 scripts/bench/onnx_peer.py make "$work"
models=("$work/unet.onnx" "$root/Sources/HemoInference/DefaultModel/hemo-default.onnx")
cores="$(nproc)"

mhz="$(awk -F: '/cpu MHz/ {print $2; exit}' /proc/cpuinfo | tr -d ' ')"
if grep -q ' avx2 ' /proc/cpuinfo && grep -q ' fma ' /proc/cpuinfo; then
    per_core="$(awk -v m="$mhz" 'BEGIN {printf "%.1f", m / 1000 * 2 * 8 * 2}')"
    echo "machine: ${cores} cores at ${mhz} MHz, AVX2+FMA: peak ${per_core} GFLOP/s per core (2 FMA units x 8 floats x 2 flops)"
else
    per_core="$(awk -v m="$mhz" 'BEGIN {printf "%.1f", m / 1000 * 2 * 4 * 2}')"
    echo "machine: ${cores} cores at ${mhz} MHz, SSE only: peak ${per_core} GFLOP/s per core"
fi
for model in "${models[@]}"; do
    echo "model $(basename "$model"): $("$hemo" model info "$model" | grep -E "parameters" | head -1)"
done

rss_kb() { awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$1"; }

printf "\n%-18s %-8s %-7s %10s %10s %6s %10s %10s %6s %8s %6s %8s %9s %8s %9s\n" model size threads ours_ms ort_ms ratio ours_cpu ort_cpu ratio GFLOP/s peak% ours_MB engine_MB ort_MB target_MB
for model in "${models[@]}"; do
name="$(basename "$model" .onnx)"
for size in 256 512; do
    python3 scripts/bench/onnx_peer.py memory "$model" "$size" > "$work/memory_$size"
    target_mb="$(awk '/target_bytes/ {printf "%.1f", $2 / 1048576}' "$work/memory_$size")"
    for threads in 1 "$cores"; do
        /usr/bin/time -v "$hemo" model bench "$model" --input-npy "$work/input_$size.npy" --threads "$threads" --runs "$runs" \
            > "$work/ours.out" 2> "$work/ours.time"
        ours_ms="$(sed -E 's/.*: ([0-9.]+) ms per slice.*/\1/' "$work/ours.out")"
        gflops="$(sed -E 's/.* ([0-9.]+) GFLOP\/s.*/\1/' "$work/ours.out")"
        engine_mb="$(sed -E 's/.*engine memory ([0-9.]+) MB.*/\1/' "$work/ours.out")"
        /usr/bin/time -v python3 scripts/bench/onnx_peer.py run "$model" "$work/input_$size.npy" "$threads" "$runs" \
            > "$work/ort.out" 2> "$work/ort.time"
        ort_ms="$(awk '/ort_ms_per_slice/ {print $2}' "$work/ort.out")"
        ours_cpu="$(sed -E 's/.*cpu ([0-9.]+) ms per slice.*/\1/' "$work/ours.out")"
        ort_cpu="$(awk '/ort_cpu_ms_per_slice/ {print $2}' "$work/ort.out")"
        cpu_ratio="$(awk -v a="$ours_cpu" -v b="$ort_cpu" 'BEGIN {printf "%.2f", a / b}')"
        ratio="$(awk -v a="$ours_ms" -v b="$ort_ms" 'BEGIN {printf "%.2f", a / b}')"
        peak="$(awk -v g="$gflops" -v p="$per_core" -v t="$threads" 'BEGIN {printf "%.0f", 100 * g / (p * t)}')"
        ours_mb="$(awk -v k="$(rss_kb "$work/ours.time")" 'BEGIN {printf "%.1f", k / 1024}')"
        ort_mb="$(awk -v k="$(rss_kb "$work/ort.time")" 'BEGIN {printf "%.1f", k / 1024}')"
        printf "%-18s %-8s %-7s %10s %10s %6s %10s %10s %6s %8s %5s%% %8s %9s %8s %9s\n" "$name" "${size}x${size}" "$threads" "$ours_ms" "$ort_ms" \
            "$ratio" "$ours_cpu" "$ort_cpu" "$cpu_ratio" "$gflops" "$peak" "$ours_mb" "$engine_mb" "$ort_mb" "$target_mb"
    done
done
done
echo
echo "ratio = ours / onnxruntime time per slice (medians of $runs runs; lower is better; target <= 1.25)."
echo "ours_cpu / ort_cpu: median process CPU time per slice (all threads); on a shared machine it shows the work"
echo "done independent of other processes' load (ort's worker threads spin, which inflates its CPU time at 2 threads)."
echo "GFLOP/s and peak% are from wall time: 2 x the multiply-adds of the convolutions and matrix products as"
echo "direct convolution counts them (Winograd 3x3 layers do fewer), for the graph as we run it (a 1x1 convolution"
echo "after a Resize runs before it, on 4x fewer pixels)."
echo "ours_MB / ort_MB: peak RSS of the whole process (ort includes the Python interpreter); engine_MB: ours_MB minus"
echo "the hemo process before loading the model."
echo "target_MB = weights + 2 x largest live activations around one node (see onnx_peer.py memory)."
