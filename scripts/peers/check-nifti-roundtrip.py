#!/usr/bin/env python3
"""Check that nibabel reads files written by `hemo convert` back to the input's values and geometry.

Usage:  python3 scripts/peers/check-nifti-roundtrip.py [path/to/hemo]   (default .build/debug/hemo)

For every fixture of Tests/NIfTITests/Fixtures, writes it with `hemo convert` as .nii and .nii.gz
(stored type kept, scl fields kept) and as float32 and float64 (real values), then compares with
nibabel: get_fdata() equal to the input's (NaN where the input has NaN), affine within 1e-5,
qform/sform codes kept (scanner when the input had neither), the gzip header's MTIME 0, and two
writes byte-identical. Exits 1 on any mismatch.
"""
import os
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "NIfTITests", "Fixtures")


def same(a, b):
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def main():
    hemo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "hemo")
    failures, checks = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(f for f in os.listdir(FIXTURES) if f.endswith((".nii", ".nii.gz"))):
            src = nib.load(os.path.join(FIXTURES, name))
            want64 = src.get_fdata()
            want32 = src.get_fdata(dtype=np.float32)
            had_codes = int(src.header["qform_code"]) or int(src.header["sform_code"])
            variants = [("stored", ".nii", []), ("stored", ".nii.gz", []),
                        ("float32", ".nii.gz", ["--datatype", "float32"]), ("float64", ".nii", ["--datatype", "float64"])]
            for kind, suffix, extra in variants:
                outs = []
                for copy in ("a", "b"):
                    out = os.path.join(tmp, f"{name}.{kind}.{copy}{suffix}")
                    subprocess.run([hemo, "convert", os.path.join(FIXTURES, name), out, "--gzip-level", "1", *extra], check=True)
                    outs.append(out)
                img = nib.load(outs[0])
                checks += 1
                problems = []
                got = img.get_fdata(dtype=np.float32) if kind == "float32" else img.get_fdata()
                if not same(got, want32 if kind == "float32" else want64):
                    problems.append("get_fdata differs")
                if not np.allclose(img.affine, src.affine, atol=1e-5, rtol=0):
                    problems.append(f"affine differs by {np.abs(img.affine - src.affine).max():.3g}")
                codes = (int(img.header["qform_code"]), int(img.header["sform_code"]))
                expected_codes = (int(src.header["qform_code"]), int(src.header["sform_code"])) if had_codes else (1, 1)
                if codes != expected_codes:
                    problems.append(f"codes {codes} != {expected_codes}")
                blobs = [open(o, "rb").read() for o in outs]
                if blobs[0] != blobs[1]:
                    problems.append("two writes differ")
                if suffix == ".nii.gz" and (blobs[0][:2] != b"\x1f\x8b" or blobs[0][4:8] != b"\0\0\0\0"):
                    problems.append("gzip header has a timestamp")
                if problems:
                    failures.append(f"{name} -> {kind}{suffix}: " + "; ".join(problems))
    for f in failures:
        print("FAIL", f)
    print(f"{checks - len(failures)}/{checks} round trips agree with nibabel {nib.__version__}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
