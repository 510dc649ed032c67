#!/usr/bin/env python3
"""Recomputes a HemoCluster release from its masks with tools that did not write it, and compares
every row and value.

    independent-checks.py RELEASE [--cohort COHORT] [--native] [--canonical] [--report FILE]

numpy, scipy.ndimage, nibabel, pycocotools, PIL and hashlib are the peers:
  - nibabel reads every NIfTI file (datatype, scaling, qform/sform codes and affines, shape);
  - per-subtype masks (masks3d bit v-1) → labelsTr (higher value wins), masks2d PNGs (PIL);
  - slice and patient labels, volumes in mL, weak-label agreement;
  - boxes2d.csv from scipy.ndimage.label (8-connected) + find_objects per slice and subtype;
  - lesions3d.csv from scipy.ndimage.label (26-connected): voxels, mL, boxes, world centroids;
  - coco.json (images, [x, y, w, h], area, category ids), loaded by pycocotools and evaluated
    against itself (AP must be 1); YOLO files (normalised centre and size, printf's "%.6f");
  - dataset.json, splits.json (the documented hash rule), provenance.json (input SHA-256);
  - with --cohort and --native: the released CT and masks equal the cohort's (nibabel);
  - with --cohort and --canonical: they equal nibabel.as_closest_canonical of the cohort's.
Prints one line per check; exits 1 listing every disagreement.
"""
import argparse
import csv
import hashlib
import io
import json
import os
import sys

import nibabel as nib
import numpy as np
from PIL import Image
from scipy import ndimage

SUBTYPES = ["EPH", "SDH", "SAH", "IPH", "IVH"]
problems = []
found = []


def bad(what):
    problems.append(what)
    if len(problems) <= 60:
        print("MISMATCH: " + what)


def ok(what):
    found.append(what)
    print("ok: " + what)


def fmt(v, d):
    s = "%.*f" % (d, v)
    # The release writes a value that rounds to zero without its sign.
    if s.startswith("-") and set(s[1:]) <= set("0."):
        s = s[1:]
    return s


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def compare_rows(name, header, expected, actual_header, actual):
    if header != actual_header:
        bad(f"{name}: header {actual_header} != {header}")
        return
    if len(expected) != len(actual):
        bad(f"{name}: {len(actual)} rows, recomputed {len(expected)}")
    n = 0
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e != a:
            n += 1
            if n <= 5:
                diff = [f"{h}: {x!r} vs recomputed {y!r}" for h, x, y in zip(header, a, e) if x != y]
                bad(f"{name} row {i + 2} ({a[0]}, {a[1]}): " + "; ".join(diff))
    if n == 0 and len(expected) == len(actual):
        ok(f"{name}: {len(actual)} rows equal the recomputed ones")
    elif n:
        bad(f"{name}: {n} rows differ")


def slice_name(k, nk):
    return "%04d" % k if nk > 1000 else "%03d" % k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("release")
    ap.add_argument("--cohort")
    ap.add_argument("--native", action="store_true", help="the release keeps the cohort's grids")
    ap.add_argument("--canonical", action="store_true", help="the release was built with --canonical, native spacing")
    args = ap.parse_args()
    R = args.release.rstrip("/")

    ds = json.load(open(f"{R}/dataset.json"))
    kind = ds["hemocluster"]["kind"]
    pseudo = kind == "pseudo-labels"
    cases = sorted(f[: -len("_0000.nii.gz")] for f in os.listdir(f"{R}/imagesTr"))
    label_files = sorted(f[: -len(".nii.gz")] for f in os.listdir(f"{R}/labelsTr"))
    if cases != label_files:
        bad(f"imagesTr cases {cases} != labelsTr cases {label_files}")

    # ---- dataset.json ------------------------------------------------------------------------
    _, failure_rows = read_csv(f"{R}/failures.csv")
    expect = {
        "channel_names": {"0": "CT"},
        "labels": {"background": 0, **{s: i + 1 for i, s in enumerate(SUBTYPES)}},
        "numTraining": len(cases),
        "file_ending": ".nii.gz",
    }
    for k, v in expect.items():
        if ds.get(k) != v:
            bad(f"dataset.json {k}: {ds.get(k)!r}, expected {v!r}")
    if ds["hemocluster"]["cases"] != len(cases) or ds["hemocluster"]["failures"] != len(failure_rows):
        bad(f"dataset.json hemocluster counts {ds['hemocluster']} vs {len(cases)} cases, {len(failure_rows)} failures")
    ok(f"dataset.json: nnU-Net fields and counts ({len(cases)} cases, {len(failure_rows)} failures, {kind})")

    weak = None
    if args.cohort and os.path.exists(f"{args.cohort}/weak_labels.csv"):
        wh, wr = read_csv(f"{args.cohort}/weak_labels.csv")
        weak = {r[0]: dict(zip(wh, r)) for r in wr}

    slice_rows, patient_rows, box_rows, lesion_rows = [], [], [], []
    coco_images, coco_anns, yolo = [], [], {}
    nifti_seen = set()
    for case in cases:
        img = nib.load(f"{R}/imagesTr/{case}_0000.nii.gz")
        lab = nib.load(f"{R}/labelsTr/{case}.nii.gz")
        bits = nib.load(f"{R}/masks3d/{case}.nii.gz")
        for name, im, dtype in (("imagesTr", img, np.int16), ("labelsTr", lab, np.uint8), ("masks3d", bits, np.uint8)):
            h = im.header
            nifti_seen.add((str(h.get_data_dtype()), int(h["qform_code"]), int(h["sform_code"])))
            if h.get_data_dtype() != dtype:
                bad(f"{name}/{case}: datatype {h.get_data_dtype()}, expected {np.dtype(dtype)}")
            slope, inter = h.get_slope_inter()
            if slope not in (None, 1.0) or inter not in (None, 0.0):
                bad(f"{name}/{case}: scl_slope {slope}, scl_inter {inter}; expected 1, 0")
            if int(h["qform_code"]) == 0 or int(h["sform_code"]) == 0 or h["qform_code"] != h["sform_code"]:
                bad(f"{name}/{case}: qform_code {h['qform_code']}, sform_code {h['sform_code']}")
            if not np.allclose(h.get_qform(), h.get_sform(), atol=1e-4):
                bad(f"{name}/{case}: qform and sform differ:\n{h.get_qform()}\n{h.get_sform()}")
            if im.shape != img.shape or not np.allclose(im.affine, img.affine, atol=1e-5):
                bad(f"{name}/{case}: grid {im.shape} differs from the image's {img.shape}")
        ct = np.asanyarray(img.dataobj)
        labels = np.asanyarray(lab.dataobj)
        bm = np.asanyarray(bits.dataobj)
        if ct.ndim != 3:
            bad(f"imagesTr/{case}: {ct.ndim}-D")
            continue
        masks = [(bm >> v) & 1 == 1 for v in range(5)]
        if bm.max(initial=0) >= 32:
            bad(f"masks3d/{case}: value {bm.max()} has bits above IVH")
        single = np.zeros(bm.shape, np.uint8)
        for v in range(5):
            single[masks[v]] = v + 1  # higher value wins
        if not np.array_equal(single, labels):
            bad(f"labelsTr/{case}: {(single != labels).sum()} voxels differ from the per-subtype masks (higher value wins)")

        # The input, read by nibabel, when the grid is the cohort's (or its canonical form).
        if args.cohort and (args.native or args.canonical):
            src = nib.load(f"{args.cohort}/{case}/ct.nii.gz")
            if args.canonical:
                src = nib.as_closest_canonical(src)
            src_ct = np.asarray(src.get_fdata(dtype=np.float64))
            if src.shape != ct.shape or not np.allclose(src.affine, img.affine, atol=1e-3):
                bad(f"imagesTr/{case}: grid {ct.shape} {img.affine.tolist()} != input's {src.shape} {src.affine.tolist()}")
            elif not np.array_equal(np.round(src_ct), ct):
                bad(f"imagesTr/{case}: {(np.round(src_ct) != ct).sum()} voxels differ from the input CT")
            truth_dir = f"{args.cohort}/truth/{case}"
            if not pseudo and os.path.isdir(f"{args.cohort}/{case}/masks"):
                for v, s in enumerate(SUBTYPES):
                    p = f"{args.cohort}/{case}/masks/{s}.nii.gz"
                    m = nib.load(p) if os.path.exists(p) else None
                    if m is not None and args.canonical:
                        m = nib.as_closest_canonical(m)
                    want = np.asarray(m.dataobj) > 0 if m is not None else np.zeros(ct.shape, bool)
                    if not np.array_equal(want, masks[v]):
                        bad(f"masks3d/{case} {s}: {(want != masks[v]).sum()} voxels differ from the cohort's mask")

        nx, ny, nk = ct.shape
        zooms = img.header.get_zooms()[:3]
        voxel_ml = float(zooms[0]) * float(zooms[1]) * float(zooms[2]) / 1000.0

        # 2D masks (PNG, x = i columns, y = j rows).
        for k in range(nk):
            png = np.asarray(Image.open(f"{R}/masks2d/{case}/{slice_name(k, nk)}.png"))
            if png.shape != (ny, nx) or not np.array_equal(png, labels[:, :, k].T):
                bad(f"masks2d/{case}/{slice_name(k, nk)}.png differs from labelsTr slice {k}")

        # Slice labels.
        present = np.array([[m[:, :, k].any() for m in masks] for k in range(nk)], dtype=bool).reshape(nk, 5)
        for k in range(nk):
            slice_rows.append([case, slice_name(k, nk), str(int(present[k].any()))] + [str(int(x)) for x in present[k]])
        # Patient labels.
        per = present.any(axis=0)
        row = [case, str(int(per.any()))] + [str(int(x)) for x in per] + [str(nk), str(int(present.any(axis=1).sum()))]
        row += [fmt(float(m.sum()) * voxel_ml, 3) for m in masks]
        if weak is not None:
            w = weak.get(case)
            if w is None:
                row += [""] * 7
            else:
                wv = [int(w["any"])] + [int(w[s]) for s in SUBTYPES]
                row += [str(x) for x in wv]
                row.append(str(int(wv[0] == int(per.any()) and wv[1:] == [int(x) for x in per])))
        patient_rows.append(row)

        # 2D boxes: 8-connected components per slice and subtype, numbered in raster order with
        # i fastest (scipy labels C order, so the array is given as [j, i]).
        boxes_by_slice = {}
        for k in range(nk):
            for v in range(5):
                plane = masks[v][:, :, k].T
                if not plane.any():
                    continue
                comp, n = ndimage.label(plane, structure=np.ones((3, 3)))
                for idx, sl in enumerate(ndimage.find_objects(comp), start=1):
                    pixels = int((comp[sl] == idx).sum())
                    y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
                    boxes_by_slice.setdefault(k, []).append((v, x0, y0, x1, y1, pixels))
        for k in sorted(boxes_by_slice):
            for (v, x0, y0, x1, y1, pixels) in boxes_by_slice[k]:
                box_rows.append([case, slice_name(k, nk), SUBTYPES[v], str(x0), str(y0), str(x1), str(y1), str(pixels)])
            coco_images.append({"file_name": f"{case}/{slice_name(k, nk)}.png", "width": nx, "height": ny,
                                "boxes": boxes_by_slice[k]})
            yolo[f"{case}_{slice_name(k, nk)}.txt"] = "".join(
                f"{v} {fmt((x0 + x1) / 2 / nx, 6)} {fmt((y0 + y1) / 2 / ny, 6)} {fmt((x1 - x0) / nx, 6)} {fmt((y1 - y0) / ny, 6)}\n"
                for (v, x0, y0, x1, y1, _) in boxes_by_slice[k])

        # 3D lesions: 26-connected per subtype, world centroid through the image's affine.
        lesion = 0
        for v in range(5):
            vol = masks[v].transpose(2, 1, 0)  # [k, j, i]: C order is i fastest
            if not vol.any():
                continue
            comp, n = ndimage.label(vol, structure=np.ones((3, 3, 3)))
            objects = ndimage.find_objects(comp)
            for idx in range(1, n + 1):
                sl = objects[idx - 1]
                kk, jj, ii = np.nonzero(comp == idx)
                lesion += 1
                c = img.affine @ np.array([ii.mean(), jj.mean(), kk.mean(), 1.0])
                lesion_rows.append([case, str(lesion), SUBTYPES[v], str(len(ii)), fmt(len(ii) * voxel_ml, 3),
                                    str(sl[2].start), str(sl[1].start), str(sl[0].start),
                                    str(sl[2].stop), str(sl[1].stop), str(sl[0].stop),
                                    fmt(c[0], 3), fmt(c[1], 3), fmt(c[2], 3)])

    print(f"nibabel read {3 * len(cases)} NIfTI files; (datatype, qform_code, sform_code) seen: {sorted(nifti_seen)}")

    # ---- tables ------------------------------------------------------------------------------
    sh, sr = read_csv(f"{R}/labels/slice_labels.csv")
    base = ["case", "slice", "any"] + SUBTYPES
    if pseudo:
        for r in sr:
            ps = [float(x) for x in r[8:14]]
            if len(ps) != 6 or not all(0.0 <= p <= 1.0 for p in ps):
                bad(f"slice_labels.csv {r[0]} {r[1]}: probabilities {r[8:]} outside [0, 1]")
        compare_rows("labels/slice_labels.csv", base, slice_rows, sh[:8], [r[:8] for r in sr])
        if sh[8:] != ["p_any"] + ["p_" + s for s in SUBTYPES]:
            bad(f"slice_labels.csv probability columns {sh[8:]}")
    else:
        compare_rows("labels/slice_labels.csv", base, slice_rows, sh, sr)
    ph, pr = read_csv(f"{R}/labels/patient_labels.csv")
    pheader = ["case", "any"] + SUBTYPES + ["slices", "positive_slices"] + ["ml_" + s for s in SUBTYPES]
    if weak is not None:
        pheader += ["weak_any"] + ["weak_" + s for s in SUBTYPES] + ["agrees"]
    compare_rows("labels/patient_labels.csv", pheader, patient_rows, ph, pr)

    bh, br = read_csv(f"{R}/boxes/boxes2d.csv")
    scores = [r[8] for r in br]
    if not pseudo and any(s != "1" for s in scores):
        bad("boxes2d.csv: an annotation release has a score other than 1")
    if pseudo and not all(0.0 <= float(s) <= 1.0 for s in scores):
        bad("boxes2d.csv: a score outside [0, 1]")
    compare_rows("boxes/boxes2d.csv", ["case", "slice", "subtype", "x_min", "y_min", "x_max", "y_max", "pixels"],
                 box_rows, bh[:8], [r[:8] for r in br])
    lh, lr = read_csv(f"{R}/boxes/lesions3d.csv")
    compare_rows("boxes/lesions3d.csv", ["case", "lesion", "subtype", "voxels", "ml", "i_min", "j_min", "k_min",
                                         "i_max", "j_max", "k_max", "x_mm", "y_mm", "z_mm"], lesion_rows, lh, lr)

    # ---- COCO --------------------------------------------------------------------------------
    coco = json.load(open(f"{R}/boxes/coco.json"))
    if [c["id"] for c in coco["categories"]] != [1, 2, 3, 4, 5] or [c["name"] for c in coco["categories"]] != SUBTYPES:
        bad(f"coco.json categories {coco['categories']}")
    if len(coco["images"]) != len(coco_images):
        bad(f"coco.json: {len(coco['images'])} images, recomputed {len(coco_images)}")
    by_image = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    coco_bad = 0
    for img_rec, want in zip(coco["images"], coco_images):
        got = (img_rec["file_name"], img_rec["width"], img_rec["height"])
        if got != (want["file_name"], want["width"], want["height"]):
            coco_bad += 1; bad(f"coco.json image {img_rec['id']}: {got} != {want['file_name']}")
            continue
        anns = by_image.get(img_rec["id"], [])
        exp = [(v + 1, [x0, y0, x1 - x0, y1 - y0], pixels) for (v, x0, y0, x1, y1, pixels) in want["boxes"]]
        act = [(a["category_id"], a["bbox"], a["area"]) for a in anns]
        if exp != act or any(a["iscrowd"] != 0 for a in anns):
            coco_bad += 1; bad(f"coco.json {want['file_name']}: {act} != recomputed {exp}")
    if coco_bad == 0:
        ok(f"coco.json: {len(coco['images'])} images, {len(coco['annotations'])} annotations equal the recomputed ones")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with open(os.devnull, "w") as null:
        saved = sys.stdout; sys.stdout = null
        try:
            gt = COCO(f"{R}/boxes/coco.json")
            dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
                     "score": a.get("score", 1.0)} for a in coco["annotations"]]
            if dets:
                dt = gt.loadRes(dets)
                ev = COCOeval(gt, dt, "bbox"); ev.evaluate(); ev.accumulate(); ev.summarize()
                ap, ap50 = ev.stats[0], ev.stats[1]
        finally:
            sys.stdout = saved
    if dets:
        if abs(ap - 1.0) > 1e-12 or abs(ap50 - 1.0) > 1e-12:
            bad(f"pycocotools: the release evaluated against itself gives AP {ap}, AP50 {ap50} (expected 1)")
        else:
            ok(f"pycocotools loads coco.json; the release against itself: AP {ap:.3f}, AP50 {ap50:.3f}")

    # ---- YOLO --------------------------------------------------------------------------------
    ydir = f"{R}/boxes/yolo"
    have = sorted(os.listdir(ydir)) if os.path.isdir(ydir) else []
    if have != sorted(yolo):
        bad(f"boxes/yolo: files {set(have) ^ set(yolo)} differ")
    ybad = 0
    for f in sorted(set(have) & set(yolo)):
        text = open(f"{ydir}/{f}").read()
        if text != yolo[f]:
            ybad += 1
            if ybad <= 3:
                bad(f"boxes/yolo/{f}: {text!r} != recomputed {yolo[f]!r}")
    if ybad:
        bad(f"boxes/yolo: {ybad} of {len(set(have) & set(yolo))} files differ")
    if ybad == 0 and have == sorted(yolo):
        ok(f"boxes/yolo: {len(have)} files equal the recomputed normalised boxes")

    # ---- splits, provenance, failures -------------------------------------------------------
    sp = json.load(open(f"{R}/splits.json"))
    want = {"train": [], "val": [], "test": []}
    for c in cases:
        u = int.from_bytes(hashlib.sha256(f"hemocluster-split-v1\0{sp['seed']}\0{c}".encode()).digest()[:8], "big") / 2**64
        want["train" if u < 0.7 else "val" if u < 0.85 else "test"].append(c)
    if any(sp[k] != want[k] for k in want):
        bad(f"splits.json {[sp[k] for k in want]} != recomputed {want}")
    else:
        ok("splits.json: the documented SHA-256 rule gives the same train/val/test lists")
    if args.cohort:
        prov = json.load(open(f"{R}/provenance.json"))
        pbad = 0
        for entry in prov["inputs"]:
            for f in entry["files"]:
                digest = hashlib.sha256(open(f"{args.cohort}/{f['path']}", "rb").read()).hexdigest()
                if digest != f["sha256"]:
                    pbad += 1; bad(f"provenance.json {f['path']}: {f['sha256']} != hashlib's {digest}")
        if [e["case"] for e in prov["inputs"]] != cases:
            bad(f"provenance.json cases {[e['case'] for e in prov['inputs']]} != {cases}")
        elif pbad == 0:
            ok(f"provenance.json: {sum(len(e['files']) for e in prov['inputs'])} input SHA-256 equal hashlib's")

    if problems:
        print(f"FAIL: {len(problems)} disagreements in {R}")
        sys.exit(1)
    print(f"PASS: {R}: every table and file agrees with numpy/scipy/nibabel/pycocotools")


if __name__ == "__main__":
    main()
