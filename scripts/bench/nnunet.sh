#!/usr/bin/env bash
# `hemo infer` with an imported nnU-Net model vs `nnUNetv2_predict` (CPU) on the same synthetic
# cohort, in the same run: exams per hour (wall time, process start to exit, model load included),
# the ratio ours/nnU-Net (target >= 2) and the peak resident memory of each (GNU time's max RSS).
#
# The model: nnU-Net's own plans for the synthetic cohort (scripts/peers/nnunet-reference.py),
# 3d_fullres, PlainConvUNet with FEATURES per stage and PATCH, fixed-seed weights (no training:
# the timing does not depend on the weights), mirroring on (nnU-Net's default), step 0.5.
# nnU-Net runs with -npp 1 -nps 1, OMP_NUM_THREADS=THREADS and nnUNet_def_n_proc=THREADS;
# hemo infer with --threads THREADS. Also prints hemo's stage split (inference vs the rest).
# Each figure (wall time, exams/hour, ratio, peak memory) is the median over RUNS >= 3 runs; the
# runs alternate hemo and nnU-Net so both see the same load, which is printed before and after.
#
# Usage: scripts/bench/nnunet.sh [RUNS=3] [CASES=20] [THREADS=2] [SIZE="24 80 80"] [FEATURES=8,16,32] [PATCH=16,48,48]
set -euo pipefail
runs="${1:-3}"; cases="${2:-20}"; threads="${3:-2}"; size="${4:-24 80 80}"; features="${5:-8,16,32}"; patch="${6:-16,48,48}"
((runs >= 3)) || { echo "nnunet.sh: RUNS must be at least 3 (medians)" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
hemo="${HEMO:-$(scripts/setup.sh --release | tail -n 1)}"
py="$(scripts/peers/nnunet-venv.sh)"
bin="$(dirname "$py")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export nnUNet_raw="$work/raw" nnUNet_preprocessed="$work/pre" nnUNet_results="$work/res"
# shellcheck disable=SC2086
"$py" scripts/peers/nnunet-reference.py cohort "$work/data" --cases "$cases" --train-cases 2 --size $size > "$work/make.log" 2>&1
"$py" scripts/peers/nnunet-reference.py model --configuration 3d_fullres --folds 0 --steps 0 --features "$features" --patch "$patch" >> "$work/make.log" 2>&1 \
    || { cat "$work/make.log"; exit 1; }
folder="$nnUNet_results/Dataset950_HemoTiny/nnUNetTrainer__nnUNetPlans__3d_fullres"
"$hemo" model import nnunet "$folder" --configuration 3d_fullres --folds 0 --python "$py" --out "$work/model" > "$work/import.log" 2>&1 \
    || { cat "$work/import.log"; exit 1; }
echo "cohort: $cases synthetic exams of $size voxels (z y x); model: 3d_fullres, features $features, patch $patch, mirroring on; threads $threads; load $(cut -d' ' -f1-3 /proc/loadavg)"

measure() {   # label command... ; prints "seconds maxrss_kb"
    local label="$1"; shift
    local start end
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$work/$label.rss" "$@" > "$work/$label.log" 2>&1 || { tail -20 "$work/$label.log" >&2; echo "$label failed" >&2; exit 1; }
    end=$(date +%s.%N)
    echo "$(echo "$end - $start" | bc) $(tail -n 1 "$work/$label.rss")"
}
ours=(); peer=(); ours_rss=(); peer_rss=(); ratios=()
for ((r = 1; r <= runs; r++)); do
    rm -rf "$work/release" "$work/nnunet_out"
    read -r t m < <(measure hemo "$hemo" infer --cohort "$work/data/cohort" --model "$work/model" --out "$work/release" --threads "$threads")
    ours+=("$t"); ours_rss+=("$m")
    read -r t m < <(measure nnunet env OMP_NUM_THREADS="$threads" nnUNet_def_n_proc="$threads" "$bin/nnUNetv2_predict_from_modelfolder" \
        -i "$work/data/nnunet_in" -o "$work/nnunet_out" -m "$folder" -f 0 -chk checkpoint_final.pth -device cpu -npp 1 -nps 1)
    peer+=("$t"); peer_rss+=("$m")
    ratios+=("$(echo "scale=4; $t / ${ours[-1]}" | bc)")
    echo "run $r: hemo infer ${ours[-1]} s (${ours_rss[-1]} kB), nnUNetv2_predict $t s (${peer_rss[-1]} kB), ratio ${ratios[-1]}; load $(cut -d' ' -f1-3 /proc/loadavg)"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
mo=$(median "${ours[@]}"); mp=$(median "${peer[@]}"); mr=$(median "${ratios[@]}")
mor=$(median "${ours_rss[@]}"); mpr=$(median "${peer_rss[@]}")
awk -v o="$mo" -v p="$mp" -v r="$mr" -v n="$cases" -v runs="$runs" -v orss="$mor" -v prss="$mpr" 'BEGIN {
    printf "median of %d runs, wall: hemo infer %.1f s (%.0f exams/hour), nnUNetv2_predict %.1f s (%.0f exams/hour)\n", runs, o, n * 3600 / o, p, n * 3600 / p
    printf "median ratio hemo/nnU-Net exams per hour (per-run ratios): %.2fx (target >= 2)\n", r
    printf "median peak RSS: hemo infer %.0f MB, nnUNetv2_predict %.0f MB\n", orss / 1024, prss / 1024 }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep "^stage seconds" "$work/hemo.log" || true
"$py" scripts/peers/nnunet-reference.py compare --label "bench agreement" --reference "$work/nnunet_out" --hemo /dev/null --release "$work/release" --labels-only 2>/dev/null | tail -n 1 || true
