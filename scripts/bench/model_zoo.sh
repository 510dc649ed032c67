#!/usr/bin/env bash
# HemoInference vs onnxruntime on the model zoo: the architectures teams export with
# torch.onnx.export, at their real widths with random weights (scripts/fixtures/make-model-zoo-fixtures.py
# --full): timm ResNet-18 with 9 input channels (RSNA 2.5D), EfficientNet-B0, MobileViT-XS,
# smp U-Net with ResNet-18 and DenseNet161 encoders, nnU-Net PlainConvUNet 2D and 3D,
# MONAI UNet and SegResNet 3D. Inputs: 2-D models one 256x256 slice (224 for EfficientNet),
# 3-D models one 64x96x96 volume (--spatial-scale S scales them).
#
# For 1 thread and 2 threads, in the same run on the same files: median wall ms per run of
# ours (hemo model bench) and onnxruntime (model_zoo_peer.py) after a warm-up, the ratio
# ours/ort (target <= 1.0), our effective GFLOP/s against this CPU's FP32 peak from its FMA
# units, and engine memory (peak RSS minus RSS before loading) of each.
#
# Needs: python3 with numpy, onnx, onnxruntime, torch, timm, segmentation_models_pytorch,
# dynamic_network_architectures, monai (scripts/system-tests/57-model-zoo.sh installs the pinned ones).
# Usage: [HEMO=bin] [ZOO_DIR=dir] scripts/bench/model_zoo.sh [RUNS (default 5)] [--spatial-scale S] [--only NAME]...
# ZOO_DIR keeps the exported models (reused when its manifest.json exists); --only NAME times only
# that model of it (NAME as in the manifest: resnet9ch, efficientnet_b0, mobilevit, smp_unet_densenet161, ...).
set -euo pipefail
runs=5
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then runs="$1"; shift; fi
# --only NAME (repeatable) times only those models of the manifest (and exports only them).
only=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    [[ "${args[i]}" == --only ]] && only+=("${args[i + 1]:-}")
done
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="${ZOO_DIR:-$(mktemp -d)}"

# HEMO=path uses that binary (HemoInference is built with -O in debug builds too).
if [[ -n "${HEMO:-}" ]]; then
    hemo="$HEMO"
else
    swift build -c release --product hemo >&2
    hemo="$(swift build -c release --show-bin-path)/hemo"
fi
# Each run's own scratch files: several runs may share one ZOO_DIR.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"; [[ -n "${ZOO_DIR:-}" ]] || rm -rf "$work"' EXIT
if [[ ! -f "$work/manifest.json" ]]; then
    python3 scripts/fixtures/make-model-zoo-fixtures.py --full --batches 1 --out "$work" "$@" >&2
fi

# FP32 peak from the FMA units: AVX-512 with two FMA ports = 2 x 16 floats x 2 flops = 64 FLOP per
# cycle per core (AVX2: 2 x 8 x 2 = 32). The clock is the nominal one: the model name's GHz when
# it has one, else /proc/cpuinfo's "cpu MHz", which under KVM with a constant TSC is the TSC rate.
cores="$(nproc)"
ghz="$(grep -m1 'model name' /proc/cpuinfo | grep -oE '[0-9.]+GHz' | tr -d 'GHz' || true)"
[[ -n "$ghz" ]] || ghz="$(awk -F: '/cpu MHz/ {printf "%.3f", $2 / 1000; exit}' /proc/cpuinfo)"
if grep -q ' avx512f ' /proc/cpuinfo; then flop=64; isa="AVX-512 (2 FMA units x 16 floats x 2)"
elif grep -q ' fma ' /proc/cpuinfo; then flop=32; isa="AVX2+FMA (2 x 8 x 2)"
else flop=8; isa="SSE"; fi
per_core="$(awk -v g="$ghz" -v f="$flop" 'BEGIN {printf "%.1f", g * f}')"
echo "machine: $cores cores, $isa = $flop FLOP/cycle/core at ${ghz} GHz nominal: peak $per_core GFLOP/s per core"
if [[ "$flop" == 64 && "${HEMO_SIMULATE_CPU_WITHOUT:-}" != *avx512* ]]; then
    echo "our GEMM tiles: AVX-512 (16 floats, chosen at run time); the rest of our kernels use AVX2 (8 floats)"
else
    echo "our kernels use AVX2 FMA (8 floats), so their own ceiling is half that peak"
fi
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

printf "\n%-20s %-14s %-3s %9s %9s %6s %9s %9s %6s %8s %6s %8s %8s\n" model input thr ours_ms ort_ms ratio ours_cpu ort_cpu ratio \
    GFLOP/s peak% ours_MB ort_MB
worst=0
worst_case=""
worst_cpu=0
worst_cpu_case=""
while read -r name input; do
    model="$work/$name"
    shape="$(python3 -c "import numpy; print('x'.join(map(str, numpy.load('$work/$input').shape)))")"
    for threads in 1 2; do
        "$hemo" model bench "$model" --input "$work/$input" --threads "$threads" --runs "$runs" > "$scratch/ours.out"
        ours_ms="$(sed -E 's/.* ([0-9.]+) ms per run.*/\1/' "$scratch/ours.out")"
        gflops="$(sed -E 's/.* ([0-9.]+) GFLOP\/s.*/\1/' "$scratch/ours.out")"
        ours_mb="$(sed -E 's/.*engine memory ([0-9.]+) MB.*/\1/' "$scratch/ours.out")"
        python3 scripts/bench/model_zoo_peer.py run "$model" "$work/$input" "$threads" "$runs" > "$scratch/ort.out"
        ort_ms="$(awk '/ort_ms_per_run/ {print $2}' "$scratch/ort.out")"
        ort_mb="$(awk '/ort_engine_mb/ {print $2}' "$scratch/ort.out")"
        ratio="$(awk -v a="$ours_ms" -v b="$ort_ms" 'BEGIN {printf "%.2f", a / b}')"
        ours_cpu="$(sed -E 's/.*cpu ([0-9.]+) ms per slice.*/\1/' "$scratch/ours.out")"
        ours_cpu="$(awk -v c="$ours_cpu" -v n="${shape%%x*}" 'BEGIN {printf "%.2f", c * n}')"
        ort_cpu="$(awk '/ort_cpu_ms_per_run/ {print $2}' "$scratch/ort.out")"
        cpu_ratio="$(awk -v a="$ours_cpu" -v b="$ort_cpu" 'BEGIN {printf "%.2f", a / b}')"
        peak="$(awk -v g="$gflops" -v p="$per_core" -v t="$threads" 'BEGIN {printf "%.1f", 100 * g / (p * t)}')"
        printf "%-20s %-14s %-3s %9s %9s %6s %9s %9s %6s %8s %5s%% %8s %8s\n" "${name%.onnx}" "$shape" "$threads" "$ours_ms" \
            "$ort_ms" "$ratio" "$ours_cpu" "$ort_cpu" "$cpu_ratio" "$gflops" "$peak" "$ours_mb" "$ort_mb"
        if awk -v r="$ratio" -v w="$worst" 'BEGIN {exit !(r > w)}'; then worst="$ratio"; worst_case="${name%.onnx} at $threads thread(s)"; fi
        if awk -v r="$cpu_ratio" -v w="$worst_cpu" 'BEGIN {exit !(r > w)}'; then worst_cpu="$cpu_ratio"; worst_cpu_case="${name%.onnx} at $threads thread(s)"; fi
    done
done < <(python3 -c "
import json
only = [n for n in '${only[*]:-}'.split() if n]
for case in json.load(open('$work/manifest.json'))['cases']:
    if not only or case['model'].removesuffix('.onnx') in only:
        print(case['model'], case['inputs']['input'])")
echo
echo "worst wall-time ratio: $worst ($worst_case); worst CPU-time ratio: $worst_cpu ($worst_cpu_case)"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ratio = ours / onnxruntime wall time per run (medians of $runs runs after a warm-up; lower is better; target <= 1.0)."
echo "ours_cpu / ort_cpu: median process CPU time per run (all threads): on a shared machine it shows the work done"
echo "whatever the load (ort's worker threads spin while waiting, which inflates its CPU time at 2 threads)."
echo "GFLOP/s: 2 x multiply-adds of convolutions and matrix products (direct count) / our median wall time;"
echo "peak% against $per_core GFLOP/s x threads. ours_MB / ort_MB: peak RSS minus RSS before loading the model."
