#!/usr/bin/env python3
"""nibabel peer for scripts/bench/nifti_io.sh.

  nifti_io_peer.py make OUT.nii.gz     write the 512×512×36 int16 CT-like benchmark input
  nifti_io_peer.py run IN OUT.nii.gz   read IN to float32 real values (HU), write them as
                                       float32 .nii.gz at gzip level 1; print
                                       "read_ms X write_ms Y read_cpu_ms Z write_cpu_ms W" on
                                       stderr (like hemo convert --timing)
"""
import sys
import time

import nibabel as nib
import numpy as np


def make(path):
    nx, ny, nz = 512, 512, 36
    rng = np.random.default_rng(7)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    hu = np.empty((nx, ny, nz), dtype=np.float32)
    for k in range(nz):
        # An elliptical head whose size changes with k: air, scalp, skull, brain, ventricles, a bleed.
        a, b = 200 - 1.5 * abs(k - 18), 230 - 1.5 * abs(k - 18)
        r = np.sqrt(((i - 256) / a) ** 2 + ((j - 250) / b) ** 2)
        s = np.full((nx, ny), -1000.0, dtype=np.float32)
        s[r < 1.04] = 40.0
        s[r < 1.0] = 900.0 + 300.0 * np.cos(i[r < 1.0] / 9.0) * np.sin(j[r < 1.0] / 13.0)
        s[r < 0.93] = 30.0 + 8.0 * np.sin(i[r < 0.93] / 17.0) + 6.0 * np.cos(j[r < 0.93] / 11.0)
        s[(r < 0.25) & (np.abs(i - 256) < 25)] = 8.0
        s[((i - 300) ** 2 + (j - 200) ** 2) < (30 - abs(k - 20)) ** 2] = 70.0
        s += rng.normal(0, 4.0, size=s.shape).astype(np.float32) * (s > -900)
        hu[:, :, k] = s
    stored = np.clip(np.round(hu + 1024), -32768, 32767).astype(np.int16)
    affine = np.diag([0.45, 0.45, 5.0, 1.0])
    affine[:3, 3] = [-115, -115, -90]
    img = nib.Nifti1Image(stored, affine)
    img.header.set_data_dtype(np.int16)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=1)
    # Write with explicit scaling (stored = HU + 1024), as scanners do.
    img.header["scl_slope"] = 1.0
    img.header["scl_inter"] = -1024.0
    hdr = img.header.copy()
    hdr.set_data_offset(352)
    import gzip
    with gzip.GzipFile(path, "wb", compresslevel=6, mtime=0) as fh:
        fh.write(hdr.binaryblock + b"\0\0\0\0" + stored.tobytes(order="F"))


def run(src, dst):
    t0, c0 = time.perf_counter(), time.process_time()
    img = nib.load(src)
    data = img.get_fdata(dtype=np.float32)
    t1, c1 = time.perf_counter(), time.process_time()
    out = nib.Nifti1Image(data, img.affine, img.header)
    out.set_data_dtype(np.float32)
    nib.openers.Opener.default_compresslevel = 1
    out.to_filename(dst)
    t2, c2 = time.perf_counter(), time.process_time()
    print(f"read_ms {1000 * (t1 - t0):.3f} write_ms {1000 * (t2 - t1):.3f} "
          f"read_cpu_ms {1000 * (c1 - c0):.3f} write_cpu_ms {1000 * (c2 - c1):.3f}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        run(sys.argv[2], sys.argv[3])
