#!/usr/bin/env python3
"""`hemo eval` against its Python peer (scikit-learn + pycocotools + nibabel/numpy), same
releases, same run, interleaved.

    python3 scripts/bench/eval_bench.py [--runs 5] [--cases 6] [--hemo .build/release/hemo]

Setup (once, in $EVAL_BENCH_DIR or /tmp/hemo-eval-bench): two raw cohorts of 512×512×32 CTs
whose label maps differ (shifted and dropped lesions), built into releases with `hemo build`;
the prediction release then gets p_any…p_IVH slice probabilities and box scores with ties, as a
pseudo-label release has (its manifest no longer matches; `hemo eval` does not read it).

Measured, whole process wall time:
  ours: hemo eval --pred P --truth T --json OUT --threads 1   (and with all cores)
  peer: python3 scripts/peers/eval-crosscheck.py --peer-only --pred P --truth T
Both compute the same figures (slice, patient, segmentation, COCO AP); the cross-check mode of
the same script verifies they agree. Prints medians and peer/ours ratios.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import time

import nibabel as nib
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PEER = os.path.join(ROOT, "scripts", "eval-crosscheck.py")


def make_cohorts(work, cases):
    rng = np.random.default_rng(2026)
    affine = np.diag([0.45, 0.45, 5.0, 1.0])
    shape = (512, 512, 32)
    for c in range(cases):
        r = np.random.default_rng(100 + c)
        blobs = [(s, int(r.integers(40, 420)), int(r.integers(40, 420)), int(r.integers(0, 28)),
                  int(r.integers(10, 80)), int(r.integers(10, 60)), int(r.integers(1, 5)))
                 for s in range(1, 6) for _ in range(int(r.integers(0, 3)))]
        ct = (rng.integers(0, 80, shape)).astype(np.int16)
        for side in ("truth", "pred"):
            d = os.path.join(work, side, f"case{c:03d}")
            os.makedirs(d, exist_ok=True)
            nib.save(nib.Nifti1Image(ct, affine), os.path.join(d, "ct.nii.gz"))
            lab = np.zeros(shape, np.uint8)
            for (s, x, y, z, w, h, dz) in blobs:
                if side == "pred":
                    if rng.random() < 0.15:
                        continue
                    x += int(rng.integers(-6, 7)); y += int(rng.integers(-6, 7)); w = max(1, w + int(rng.integers(-5, 6)))
                lab[x:x + w, y:y + h, z:z + dz] = s
            nib.save(nib.Nifti1Image(lab, affine), os.path.join(d, "labelmap.nii.gz"))


def add_pseudo_label_columns(release):
    rng = np.random.default_rng(7)
    path = os.path.join(release, "labels", "slice_labels.csv")
    table = list(csv.reader(open(path)))
    if "p_any" not in table[0]:
        out = [table[0] + ["p_any", "p_EPH", "p_SDH", "p_SAH", "p_IPH", "p_IVH"]]
        for r in table[1:]:
            probs = [round(float(np.clip(0.6 * int(f) + rng.normal(0.2, 0.25), 0, 1)), 1) for f in r[2:8]]
            out.append(r + ["%.4f" % p for p in probs])
        csv.writer(open(path, "w", newline=""), lineterminator="\n").writerows(out)
    path = os.path.join(release, "boxes", "boxes2d.csv")
    table = list(csv.reader(open(path)))
    for r in table[1:]:
        r[8] = "%.4f" % round(float(rng.uniform(0.2, 1)), 1)
    csv.writer(open(path, "w", newline=""), lineterminator="\n").writerows(table)


def wall(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cases", type=int, default=6)
    ap.add_argument("--hemo", default=os.path.join(ROOT, ".build", "release", "hemo"))
    a = ap.parse_args()
    if not os.path.exists(a.hemo):
        sys.exit(f"hemo not found at {a.hemo}: run `swift build -c release --product hemo` first (or pass --hemo)")
    work = os.environ.get("EVAL_BENCH_DIR", "/tmp/hemo-eval-bench") + f"-{a.cases}"
    truth, pred = os.path.join(work, "truth-release"), os.path.join(work, "pred-release")
    if not os.path.exists(pred):
        make_cohorts(work, a.cases)
        for side, out in (("truth", truth), ("pred", pred)):
            subprocess.run([a.hemo, "build", "--cohort", os.path.join(work, side), "--out", out],
                           check=True, stdout=subprocess.DEVNULL)
        add_pseudo_label_columns(pred)
    check = subprocess.run([sys.executable, PEER, "--hemo", a.hemo, "--pred", pred, "--truth", truth],
                           capture_output=True, text=True)
    print(check.stdout.strip())
    if check.returncode != 0:
        sys.exit("hemo eval and the peer disagree; not timing")
    out = os.path.join(work, "eval.json")
    ours1, oursN, peer = [], [], []
    for _ in range(a.runs):
        ours1.append(wall([a.hemo, "eval", "--pred", pred, "--truth", truth, "--json", out, "--threads", "1"]))
        oursN.append(wall([a.hemo, "eval", "--pred", pred, "--truth", truth, "--json", out]))
        peer.append(wall([sys.executable, PEER, "--peer-only", "--pred", pred, "--truth", truth]))
    m1, mN, mp = statistics.median(ours1), statistics.median(oursN), statistics.median(peer)
    print(f"eval of {a.cases} cases (512x512x32), wall seconds over {a.runs} interleaved runs")
    print("  hemo eval --threads 1 : " + " ".join("%.2f" % t for t in ours1))
    print(f"  hemo eval (all cores): " + " ".join("%.2f" % t for t in oursN))
    print("  python peer          : " + " ".join("%.2f" % t for t in peer))
    print(f"  median hemo 1 thread {m1:.2f} s, all cores {mN:.2f} s, peer {mp:.2f} s; "
          f"peer/hemo {mp / m1:.2f}x (1 thread), {mp / mN:.2f}x (all cores)")


if __name__ == "__main__":
    main()
