#!/usr/bin/env bash
# System test: a 2.5-D timm slice classifier (classifier-only format-3 model folder written by
# scripts/fixtures/make-25d-classifier.py: random weights, fixed seeds, torch.onnx.export) run by
# `hemo infer` equals a plain PyTorch loop written here (nibabel read, bilinear resize of HU, windows,
# K neighbouring slices stacked with edge replication, sigmoid/softmax, ensemble mean, thresholds):
# p_* within 1e-4 (the unrounded ones of `hemo model predict`: 1e-5), identical slice and patient
# labels, for resnet18 K=3 sigmoid and a 2-member resnet18 K=5 softmax ensemble. The release has
# no masks and says so; `hemo release verify` accepts it and refuses a label flipped against its
# probability; `hemo run --workers 2` writes the same bytes. About 3 minutes.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
HEMO="${HEMO:-$root/.build/debug/hemo}"
[[ -x "$HEMO" ]] || { echo "FAIL: no hemo binary at $HEMO (build it, or set HEMO)"; exit 1; }
PY=${PYTHON:-python3}
"$PY" -c "import torch, timm, onnx, nibabel, numpy" 2>/dev/null || "$PY" -m pip install -q torch timm onnx nibabel numpy
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# 4 exams of 12 slices, 150 x 150 (resized to 64 x 64: a factor that is not a power of two), most with blood.
"$HEMO" synth --out "$work/cohort" --cases 4 --seed 6565 --positive-fraction 0.75 --in-plane 150 --slices 12 > /dev/null

cat > "$work/peer.py" <<'PYEOF'
"""The PyTorch peer: reads the cohort's CTs with nibabel and runs the saved timm networks itself."""
import csv, json, os, sys
import nibabel as nib
import numpy as np
import timm
import torch
import torch.nn.functional as F

model_dir, cohort, release = sys.argv[1:4]
torch.set_num_threads(2)
sc = json.load(open(os.path.join(model_dir, "model.json")))
K = sc["input"]["slices"]
H, W = sc["input"]["size"]
windows = [(c["window_width"], c["window_level"]) for c in sc["input"]["intensity"]["channels"]]
cls = sc["outputs"]["classification"]
names = ["any", "EPH", "SDH", "SAH", "IPH", "IVH"]
thr = [cls["thresholds"].get(n, 0.5) for n in names]
nets = []
for n, entry in enumerate(sc["networks"]):
    net = timm.create_model(sc["training"]["arch"], pretrained=False, num_classes=len(cls["channels"]), in_chans=K * len(windows))
    net.load_state_dict(torch.load(os.path.join(model_dir, entry["file"].replace(".onnx", ".pt"))))
    nets.append(net.eval())

def reference(ct_path):
    img = nib.load(ct_path)
    hu = np.asarray(img.get_fdata(dtype=np.float32))  # (i, j, k), scl_slope/inter applied
    slices = hu.shape[2]
    planes = []
    for k in range(slices):
        s = torch.from_numpy(np.ascontiguousarray(hu[:, :, k].T))[None, None]  # rows = j, columns = i
        r = F.interpolate(s, size=(H, W), mode="bilinear", align_corners=False, antialias=False)[0, 0]
        planes.append(torch.stack([torch.clamp((r - (wl - ww / 2)) / ww, 0, 1) for ww, wl in windows]))
    half = (K - 1) // 2
    x = torch.stack([torch.cat([planes[min(max(k + n - half, 0), slices - 1)] for n in range(K)]) for k in range(slices)])
    with torch.no_grad():
        probs = []
        for net in nets:
            logits = net(x).double()
            probs.append(torch.sigmoid(logits) if cls["activation"] == "sigmoid" else torch.softmax(logits, dim=1))
        p = torch.stack(probs).mean(0).numpy()
    out = []
    for row in p:
        rep = [0.0] * 6
        for c, name in enumerate(cls["channels"]):
            if name in names:
                rep[names.index(name)] = float(row[c])
        if "any" not in cls["channels"]:
            sub = rep[1:]
            rep[0] = sum(sub) if cls["activation"] == "softmax" else max(sub)
        labels = [1 if (names[v] in cls["channels"] and rep[v] >= thr[v]) else 0 for v in range(1, 6)]
        anyl = 1 if (rep[0] >= thr[0] or any(labels)) else 0
        out.append((rep, [anyl] + labels))
    return out

rows = list(csv.DictReader(open(os.path.join(release, "labels", "slice_labels.csv"))))
unrounded = sys.argv[4] if len(sys.argv) > 4 else None  # hemo model predict --slice-probabilities, per case
worst_exact = 0.0
hemo = {}
for r in rows:
    hemo.setdefault(r["case"], []).append(r)
worst, near, slices, mismatches, positives = 0.0, 1.0, 0, [], [0] * 6
for case in sorted(d for d in os.listdir(cohort) if os.path.exists(os.path.join(cohort, d, "ct.nii.gz"))):
    ref = reference(os.path.join(cohort, case, "ct.nii.gz"))
    got = hemo.get(case, [])
    if len(got) != len(ref):
        print(f"{case}: hemo has {len(got)} slice rows, the CT {len(ref)} slices"); sys.exit(1)
    for k, ((rep, labels), g) in enumerate(zip(ref, got)):
        slices += 1
        for v in range(6):
            worst = max(worst, abs(float(g["p_" + names[v]]) - rep[v]))
            near = min(near, abs(rep[v] - thr[v]))
            positives[v] += labels[v]
        if [int(g[n]) for n in names] != labels:
            mismatches.append(f"{case} slice {k}: hemo {[g[n] for n in names]} torch {labels} p {np.round(rep, 5).tolist()}")
    if unrounded and os.path.exists(os.path.join(unrounded, case + ".npy")):
        exact = np.load(os.path.join(unrounded, case + ".npy"))
        worst_exact = max(worst_exact, float(np.abs(exact.astype(np.float64) - np.array([r for r, _ in ref])).max()))
    patient = [max(l[v] for _, l in ref) for v in range(6)]
    prow = next(r for r in csv.DictReader(open(os.path.join(release, "labels", "patient_labels.csv"))) if r["case"] == case)
    if [int(prow[n]) for n in names] != patient:
        mismatches.append(f"{case}: patient labels hemo {[prow[n] for n in names]} torch {patient}")
print(f"{sc['training']['arch']} K={K} {cls['activation']} x{len(nets)}: {slices} slices, max |p hemo - p torch| {worst:.2e} "
      f"(hemo writes 4 decimals), unrounded {worst_exact:.1e}, label mismatches {len(mismatches)}, positives per column {positives}, "
      f"closest p to a threshold {near:.1e}")
for m in mismatches[:10]:
    print(m)
if worst > 1e-4 or worst_exact > 1e-5 or mismatches:
    sys.exit(1)
if not any(0 < positives[v] < slices for v in range(6)):
    print("every label column is constant: the check would not see a wrong label"); sys.exit(1)
print("OK")
PYEOF

check() {  # name, fixture arguments...
    local name=$1; shift
    "$PY" "$root/scripts/fixtures/make-25d-classifier.py" --out "$work/$name/model" "$@" > "$work/$name.fixture.log" 2>&1 \
        || { tail -5 "$work/$name.fixture.log"; echo "FAIL: $name: the fixture script failed"; exit 1; }
    "$HEMO" infer --cohort "$work/cohort" --model "$work/$name/model" --out "$work/$name/release" --threads 2 > "$work/$name.infer.log" 2>&1 \
        || { tail -20 "$work/$name.infer.log"; echo "FAIL: $name: hemo infer failed"; exit 1; }
    # hemo model predict gives the unrounded slice probabilities (float32) of two exams.
    mkdir -p "$work/$name/exact"
    for ct in "$work"/cohort/case_000/ct.nii.gz "$work"/cohort/case_003/ct.nii.gz; do
        c=$(basename "$(dirname "$ct")")
        "$HEMO" model predict --model "$work/$name/model" --ct "$ct" --slice-probabilities "$work/$name/exact/$c.npy" --threads 2 > /dev/null \
            || { echo "FAIL: $name: hemo model predict $c failed"; exit 1; }
    done
    "$PY" "$work/peer.py" "$work/$name/model" "$work/cohort" "$work/$name/release" "$work/$name/exact" | tee "$work/$name.check" || true
    grep -q '^OK$' "$work/$name.check" || { echo "FAIL: $name: hemo infer differs from the PyTorch loop (above)"; exit 1; }
    local r="$work/$name/release"
    for d in labelsTr masks3d masks2d; do
        [[ ! -e "$r/$d" ]] || { echo "FAIL: $name: a classifier's release holds $d/"; exit 1; }
    done
    grep -q '"masks": "none"' "$r/dataset.json" || { echo "FAIL: $name: dataset.json does not say the release has no masks"; exit 1; }
    grep -q '"masks": "none"' "$r/provenance.json" || { echo "FAIL: $name: provenance.json does not say the release has no masks"; exit 1; }
    [[ $(wc -l < "$r/boxes/boxes2d.csv") -eq 1 ]] || { echo "FAIL: $name: a classifier's release has boxes"; exit 1; }
    "$HEMO" release verify "$r" > "$work/$name.verify" 2>&1 || { cat "$work/$name.verify"; echo "FAIL: $name: hemo release verify refused the release"; exit 1; }
}

check resnet18-k3 --arch resnet18 --slices 3 --seed 1234 --thresholds 0.4,0.03,0.4,0.8,0.75,0.75
check resnet18-k5-ensemble --arch resnet18 --slices 5 --members 2 --seed 77 --activation softmax --head-gain 20 --thresholds 0.96,0.075,0.45,0.155,0.13,0.14

# A label flipped against its probability (far from its threshold), the manifest fixed: verify refuses it.
bad="$work/tampered"
cp -r "$work/resnet18-k3/release" "$bad"
"$PY" - "$bad" <<'PYEOF'
import csv, hashlib, io, sys
root = sys.argv[1]
path = root + "/labels/slice_labels.csv"
rows = list(csv.reader(open(path)))
header = rows[0]
for r in rows[1:]:
    if abs(float(r[header.index("p_SDH")]) - 0.4) > 0.05:
        r[header.index("SDH")] = "0" if r[header.index("SDH")] == "1" else "1"
        break
text = "".join(",".join(r) + "\n" for r in rows)
open(path, "w").write(text)
lines = open(root + "/MANIFEST.sha256").read().splitlines()
digest = hashlib.sha256(text.encode()).hexdigest()
open(root + "/MANIFEST.sha256", "w").write("".join((f"{digest}  labels/slice_labels.csv" if l.endswith("  labels/slice_labels.csv") else l) + "\n" for l in lines))
PYEOF
if "$HEMO" release verify "$bad" > "$work/tampered.verify" 2>&1; then
    echo "FAIL: hemo release verify accepted a label flipped against its probability and threshold"; exit 1
fi
grep -q "threshold" "$work/tampered.verify" || { cat "$work/tampered.verify"; echo "FAIL: verify's refusal does not name the threshold rule"; exit 1; }
echo "hemo release verify refuses a flipped label: $(grep -m1 threshold "$work/tampered.verify")"

# --probabilities needs per-voxel probabilities: a classifier is refused up front, naming the model.
for cmd in infer run; do
    extra=(); [[ $cmd == run ]] && extra=(--workers 1)
    if "$HEMO" $cmd --cohort "$work/cohort" --model "$work/resnet18-k3/model" --out "$work/probs-$cmd" --probabilities "${extra[@]}" > "$work/probs-$cmd.log" 2>&1; then
        echo "FAIL: hemo $cmd --probabilities accepted a classifier-only model"; exit 1
    fi
    grep -q "gives no per-voxel probabilities" "$work/probs-$cmd.log" || { cat "$work/probs-$cmd.log"; echo "FAIL: hemo $cmd --probabilities: the refusal does not say why"; exit 1; }
    [[ ! -e "$work/probs-$cmd" ]] || { echo "FAIL: hemo $cmd --probabilities left $work/probs-$cmd behind"; exit 1; }
done

# The cluster: 2 worker processes give the very bytes of hemo infer.
"$HEMO" run --cohort "$work/cohort" --model "$work/resnet18-k3/model" --out "$work/cluster" --workers 2 > "$work/run.log" 2>&1 \
    || { tail -20 "$work/run.log"; echo "FAIL: hemo run failed"; exit 1; }
cmp "$work/cluster/MANIFEST.sha256" "$work/resnet18-k3/release/MANIFEST.sha256" \
    || { diff "$work/cluster/MANIFEST.sha256" "$work/resnet18-k3/release/MANIFEST.sha256" | head; echo "FAIL: hemo run --workers 2 wrote other files than hemo infer"; exit 1; }
for f in labels/slice_labels.csv labels/patient_labels.csv dataset.json provenance.json; do
    cmp "$work/cluster/$f" "$work/resnet18-k3/release/$f" || { echo "FAIL: hemo run --workers 2: $f differs from hemo infer's"; exit 1; }
done
"$HEMO" release verify "$work/cluster" > /dev/null || { echo "FAIL: hemo release verify refused the cluster's release"; exit 1; }
echo "PASS: 2.5-D timm classifiers (resnet18 K=3 sigmoid; 2-member K=5 softmax ensemble) equal a PyTorch loop: $(grep -h 'max |p' "$work"/*.check | sed 's/ (hemo writes 4 decimals)//; s/, positives per column.*//' | paste -sd';' -); no masks, verified; hemo run --workers 2 byte-identical ($((SECONDS - started)) s)"
