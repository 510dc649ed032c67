#!/usr/bin/env bash
# `hemo infer` vs the Python peer (scripts/bench/infer_peer.py: nibabel + onnxruntime + scipy) on
# the same synthetic cohort, with the same model and sidecar, in the same run.
#
# Both read every CT, resize and window its slices to the model input, run the model in batches of
# slices, resize the logits back, take the argmax, apply the sidecar's component filter, and write
# per-slice labels with probabilities and per-component boxes with scores. hemo infer writes a whole
# release besides (CT, label map, bitmask, PNG per slice, tables, manifest); the peer writes the
# label map NIfTI and the two CSVs.
#
# Prints per run the wall time of each tool (process start to exit, model load included), then the
# medians, exams/s of both and the ratio ours/peer (target >= 1.5), and the split of hemo infer's
# time between inference, pre/post-processing and writing (stage seconds summed over exams).
#
# Needs: python3 with numpy, scipy, nibabel, onnxruntime (pip).
# Usage: scripts/bench/infer.sh [RUNS=3] [CASES=20] [SEED=77] [THREADS=nproc]
set -euo pipefail
runs="${1:-3}"; cases="${2:-20}"; seed="${3:-77}"; threads="${4:-$(nproc)}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

swift build -c release --product hemo >&2
hemo="$(swift build -c release --show-bin-path)/hemo"
model="Sources/HemoInference/DefaultModel/hemo-default.onnx"
"$hemo" synth --out "$work/cohort" --cases "$cases" --seed "$seed" --gzip-level 1 > /dev/null
echo "cohort: hemo synth --cases $cases --seed $seed ($(du -sh "$work/cohort" | cut -f1)); threads $threads; model $(basename "$model") ($(stat -c %s "$model") bytes)"

now() { date +%s.%N; }
ours=(); peer=()
for run in $(seq 1 "$runs"); do
    t0="$(now)"
    "$hemo" infer --cohort "$work/cohort" --out "$work/ours" --force --threads "$threads" > "$work/ours.out" 2> "$work/ours.err"
    t1="$(now)"
    python3 scripts/bench/infer_peer.py --model "$model" --cohort "$work/cohort" --out "$work/peer" --threads "$threads" \
        --no-eval > "$work/peer.out"
    t2="$(now)"
    o="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')"
    p="$(awk -v a="$t1" -v b="$t2" 'BEGIN {printf "%.2f", b - a}')"
    ours+=("$o"); peer+=("$p")
    echo "run $run: hemo infer ${o} s, python peer ${p} s"
    cp "$work/ours.out" "$work/ours.last"
done
median() { printf "%s\n" "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
mo="$(median "${ours[@]}")"; mp="$(median "${peer[@]}")"
eo="$(awk -v n="$cases" -v t="$mo" 'BEGIN {printf "%.3f", n / t}')"
ep="$(awk -v n="$cases" -v t="$mp" 'BEGIN {printf "%.3f", n / t}')"
echo
echo "median wall: hemo infer ${mo} s (${eo} exams/s), python peer ${mp} s (${ep} exams/s)"
echo "ratio (hemo infer exams/s / peer exams/s): $(awk -v a="$mp" -v b="$mo" 'BEGIN {printf "%.2f", a / b}')x (target >= 1.5x)"
# Split of hemo infer's stage seconds (last run), summed over exams.
stages="$(grep '^stage seconds' "$work/ours.last" | sed 's/.*: //')"
echo "hemo infer stages (last run, s summed over exams): $stages"
echo "$stages" | tr ',' '\n' | awk '
    { name = $1; secs = $2; total += secs
      if (name == "inference") inf += secs
      else if (name == "write") wr += secs
      else pre += secs }
    END { printf "split: inference %.1f%%, pre/post-processing (hash, read, transform, preprocess, postprocess, analyse) %.1f%%, writing %.1f%%\n",
          100 * inf / total, 100 * pre / total, 100 * wr / total }'
echo "python peer (last run):"
grep -E "^  (read|preprocess|inference|postprocess|write)" "$work/peer.out"
