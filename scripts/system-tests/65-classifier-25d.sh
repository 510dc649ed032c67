#!/usr/bin/env bash
# System test: a 2.5-D timm slice classifier (classifier-only format-3 model folder written by
# scripts/fixtures/make-25d-classifier.py: random weights, fixed seeds, torch.onnx.export) run by
# `hemo infer` equals a plain PyTorch loop written here (nibabel read, bilinear resize of HU, windows,
# K neighbouring slices stacked with edge replication, sigmoid/softmax, ensemble mean, thresholds):
# p_* within 1e-4 (the unrounded ones of `hemo model predict`: 1e-5), identical slice and patient
# labels, for resnet18 K=3 sigmoid, a 2-member resnet18 K=5 softmax ensemble, and a 2-member
# slice-and-exam ensemble (an exam head over max-pooled slice features: the patient labels and
# patient p_* are the exam head's). The release has no masks and says so; `hemo release verify`
# accepts it and refuses a slice or patient label flipped against its probability; `hemo run
# --workers 2` writes the same bytes as hemo infer for the exam model. About 4 minutes.
set -euo pipefail
if [[ "${1:-}" == "--help" ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
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
outputs = sc["outputs"]["classification"]
outputs = outputs if isinstance(outputs, list) else [outputs]
cls = next(o for o in outputs if o.get("level", "slice") == "slice")
exam = next((o for o in outputs if o.get("level") == "exam"), None)
names = ["any", "EPH", "SDH", "SAH", "IPH", "IVH"]
thr = [cls["thresholds"].get(n, 0.5) for n in names]
exam_thr = [exam["thresholds"].get(n, 0.5) for n in names] if exam else None


class ExamPeer(torch.nn.Module):
    """The exam-level network as written here: timm's pooled features per slice, their maximum over
    the exam's slices, a linear exam head; the slice logits from timm's own classifier."""

    def __init__(self, net, classes):
        super().__init__()
        self.backbone = net
        self.exam_head = torch.nn.Linear(net.num_features, classes)

    def forward(self, x):
        f = self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)
        return self.backbone.get_classifier()(f), self.exam_head(torch.amax(f, dim=0, keepdim=True))


nets = []
for n, entry in enumerate(sc["networks"]):
    net = timm.create_model(sc["training"]["arch"], pretrained=False, num_classes=len(cls["channels"]), in_chans=K * len(windows))
    if exam:
        net = ExamPeer(net, len(exam["channels"]))
    net.load_state_dict(torch.load(os.path.join(model_dir, entry["file"].replace(".onnx", ".pt"))))
    nets.append(net.eval())


def activate(logits, entry):
    return torch.sigmoid(logits) if entry["activation"] == "sigmoid" else torch.softmax(logits, dim=1)


def report(row, entry, thresholds):
    """p_any..p_IVH and the labels of one row of probabilities, by the entry's channels and thresholds."""
    rep = [0.0] * 6
    for c, name in enumerate(entry["channels"]):
        if name in names:
            rep[names.index(name)] = float(row[c])
    if "any" not in entry["channels"]:
        sub = rep[1:]
        rep[0] = sum(sub) if entry["activation"] == "softmax" else max(sub)
    labels = [1 if (names[v] in entry["channels"] and rep[v] >= thresholds[v]) else 0 for v in range(1, 6)]
    return rep, [1 if (rep[0] >= thresholds[0] or any(labels)) else 0] + labels

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
        probs, exam_probs = [], []
        for net in nets:
            if exam:  # the whole exam is one batch
                logits, exam_logits = net(x)
                exam_probs.append(activate(exam_logits.double(), exam))
            else:
                logits = net(x)
            probs.append(activate(logits.double(), cls))
        p = torch.stack(probs).mean(0).numpy()
    out = [report(row, cls, thr) for row in p]
    if exam:
        return out, report(torch.stack(exam_probs).mean(0).numpy()[0], exam, exam_thr)
    return out, None

rows = list(csv.DictReader(open(os.path.join(release, "labels", "slice_labels.csv"))))
unrounded = sys.argv[4] if len(sys.argv) > 4 else None  # hemo model predict --slice-probabilities, per case
worst_exact = 0.0
hemo = {}
for r in rows:
    hemo.setdefault(r["case"], []).append(r)
worst, near, slices, mismatches, positives = 0.0, 1.0, 0, [], [0] * 6
exam_worst, exam_positives, exams = 0.0, [0] * 6, 0
patients = {r["case"]: r for r in csv.DictReader(open(os.path.join(release, "labels", "patient_labels.csv")))}
for case in sorted(d for d in os.listdir(cohort) if os.path.exists(os.path.join(cohort, d, "ct.nii.gz"))):
    ref, exam_ref = reference(os.path.join(cohort, case, "ct.nii.gz"))
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
    prow = patients[case]
    if exam_ref:  # the exam head's probabilities and labels, not the union of the slices'
        rep, patient = exam_ref
        exams += 1
        if "p_any" not in prow:
            mismatches.append(f"{case}: patient_labels.csv has no p_* columns for an exam-level model"); continue
        for v in range(6):
            exam_worst = max(exam_worst, abs(float(prow["p_" + names[v]]) - rep[v]))
            near = min(near, abs(rep[v] - exam_thr[v]))
            exam_positives[v] += patient[v]
    else:
        patient = [max(l[v] for _, l in ref) for v in range(6)]
    if [int(prow[n]) for n in names] != patient:
        mismatches.append(f"{case}: patient labels hemo {[prow[n] for n in names]} torch {patient}")
exam_text = f", exam head: {exams} exams, max |p hemo - p torch| {exam_worst:.2e}, exam positives {exam_positives}" if exam else ""
print(f"{sc['training']['arch']} K={K} {cls['activation']} x{len(nets)}: {slices} slices, max |p hemo - p torch| {worst:.2e} "
      f"(hemo writes 4 decimals), unrounded {worst_exact:.1e}, label mismatches {len(mismatches)}, positives per column {positives}, "
      f"closest p to a threshold {near:.1e}{exam_text}")
for m in mismatches[:10]:
    print(m)
if worst > 1e-4 or worst_exact > 1e-5 or exam_worst > 1e-4 or mismatches:
    sys.exit(1)
if not any(0 < positives[v] < slices for v in range(6)):
    print("every label column is constant: the check would not see a wrong label"); sys.exit(1)
if exam and not any(0 < exam_positives[v] < exams for v in range(6)):
    print("every exam label column is constant: the check would not see a wrong exam label"); sys.exit(1)
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
# A 2-member slice-and-exam ensemble: the exam head (max-pooled slice features) gives the patient labels and p_*.
check resnet18-k3-exam --arch resnet18 --slices 3 --members 2 --seed 4242 --exam-head --thresholds 0.8,0.5,0.75,0.08,0.28,0.47 --exam-thresholds 0.175,0.605,0.575,0.2425,0.478,0.545
grep -q '"exam_classification"' "$work/resnet18-k3-exam/release/provenance.json" \
    || { echo "FAIL: provenance.json does not name the exam-level output"; exit 1; }

# A label flipped against its probability (far from its threshold), the manifest fixed: verify refuses it.
tamper() {  # release, table, column, threshold, least distance of p from the threshold
    local bad="$work/tampered-$3"
    cp -r "$1" "$bad"
    "$PY" - "$bad" "$2" "$3" "$4" "$5" <<'PYEOF'
import csv, hashlib, io, sys
root, table, column, threshold, distance = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
path = root + "/" + table
rows = list(csv.reader(open(path)))
header = rows[0]
for r in rows[1:]:
    if abs(float(r[header.index("p_" + column)]) - threshold) > distance:
        r[header.index(column)] = "0" if r[header.index(column)] == "1" else "1"
        break
else:
    sys.exit("no row far from the threshold to flip")
text = "".join(",".join(r) + "\n" for r in rows)
open(path, "w").write(text)
lines = open(root + "/MANIFEST.sha256").read().splitlines()
digest = hashlib.sha256(text.encode()).hexdigest()
open(root + "/MANIFEST.sha256", "w").write("".join((f"{digest}  {table}" if l.endswith("  " + table) else l) + "\n" for l in lines))
PYEOF
    if "$HEMO" release verify "$bad" > "$bad.verify" 2>&1; then
        echo "FAIL: hemo release verify accepted a $2 label flipped against its probability and threshold"; exit 1
    fi
    grep -q "threshold" "$bad.verify" || { cat "$bad.verify"; echo "FAIL: verify's refusal does not name the threshold rule"; exit 1; }
    echo "hemo release verify refuses a flipped label in $2: $(grep -m1 threshold "$bad.verify")"
}
tamper "$work/resnet18-k3/release" labels/slice_labels.csv SDH 0.4 0.05
# The exam probabilities of a random network sit close together; p_any is 0.003 from its threshold.
tamper "$work/resnet18-k3-exam/release" labels/patient_labels.csv any 0.175 0.001

# --probabilities needs per-voxel probabilities: a classifier is refused up front, naming the model.
for cmd in infer run; do
    extra=(); [[ $cmd == run ]] && extra=(--workers 1)
    if "$HEMO" $cmd --cohort "$work/cohort" --model "$work/resnet18-k3/model" --out "$work/probs-$cmd" --probabilities "${extra[@]}" > "$work/probs-$cmd.log" 2>&1; then
        echo "FAIL: hemo $cmd --probabilities accepted a classifier-only model"; exit 1
    fi
    grep -q "gives no per-voxel probabilities" "$work/probs-$cmd.log" || { cat "$work/probs-$cmd.log"; echo "FAIL: hemo $cmd --probabilities: the refusal does not say why"; exit 1; }
    [[ ! -e "$work/probs-$cmd" ]] || { echo "FAIL: hemo $cmd --probabilities left $work/probs-$cmd behind"; exit 1; }
done

# The cluster: 2 worker processes give the very bytes of hemo infer (the slice-and-exam ensemble:
# its exam calls travel in the DONE records and the journal).
"$HEMO" run --cohort "$work/cohort" --model "$work/resnet18-k3-exam/model" --out "$work/cluster" --workers 2 > "$work/run.log" 2>&1 \
    || { tail -20 "$work/run.log"; echo "FAIL: hemo run failed"; exit 1; }
cmp "$work/cluster/MANIFEST.sha256" "$work/resnet18-k3-exam/release/MANIFEST.sha256" \
    || { diff "$work/cluster/MANIFEST.sha256" "$work/resnet18-k3-exam/release/MANIFEST.sha256" | head; echo "FAIL: hemo run --workers 2 wrote other files than hemo infer"; exit 1; }
for f in labels/slice_labels.csv labels/patient_labels.csv dataset.json provenance.json; do
    cmp "$work/cluster/$f" "$work/resnet18-k3-exam/release/$f" || { echo "FAIL: hemo run --workers 2: $f differs from hemo infer's"; exit 1; }
done
"$HEMO" release verify "$work/cluster" > /dev/null || { echo "FAIL: hemo release verify refused the cluster's release"; exit 1; }
# The whole-exam batch has a memory cap: over it, each exam fails before running, naming the
# planned and allowed MiB, and the run still writes a verified release with failures.csv.
HEMO_EXAM_BATCH_MEMORY_MB=1 "$HEMO" infer --cohort "$work/cohort" --model "$work/resnet18-k3-exam/model" --out "$work/capped" > "$work/capped.log" 2>&1 \
    || { tail -5 "$work/capped.log"; echo "FAIL: hemo infer with a 1 MiB exam-batch cap did not finish"; exit 1; }
capped=$(grep -c "the exam's 12 slices in one batch (the exam-level output needs them together) plan [0-9]* MiB of activations, over the 1 MiB cap (HEMO_EXAM_BATCH_MEMORY_MB=1)" "$work/capped/failures.csv" || true)
[[ "$capped" == 4 ]] || { cat "$work/capped/failures.csv"; echo "FAIL: expected 4 exams refused by the exam-batch cap, got $capped"; exit 1; }
"$HEMO" release verify "$work/capped" > /dev/null || { echo "FAIL: hemo release verify refused the capped run's release"; exit 1; }
echo "PASS: 2.5-D timm classifiers (resnet18 K=3 sigmoid; 2-member K=5 softmax ensemble; 2-member K=3 slice-and-exam ensemble) equal a PyTorch loop: $(grep -h 'max |p' "$work"/*.check | sed 's/ (hemo writes 4 decimals)//; s/, positives per column.*//' | paste -sd';' -); no masks, verified; hemo run --workers 2 byte-identical; the exam-batch cap refuses 4 of 4 exams at 1 MiB ($((SECONDS - started)) s)"
