#!/usr/bin/env python3
"""Benchmark: resample a 512x512x36 int16 CT from 0.45x0.45x5 mm to 1 mm isotropic, linear, 1 thread.

Ours (`hemo-bench resample`, timed inside the process around the resampling call only) against SimpleITK
`Resample` with one thread (timed around the call), on the same raw volume, same
conventions (origin and direction kept, size round(n*s/s'), fill -1024, int16 output). Prints per-run
times, medians and the speed-up, and checks that both outputs agree (|difference| <= 1 HU, where
truncation of values within rounding noise of an integer may differ).

Usage: swift build -c release --product hemo && python3 scripts/bench/bench_resample.py [--repeat 7]
Needs: pip install SimpleITK numpy
"""
import argparse
import math
import os
import tempfile

import numpy as np
import SimpleITK as sitk

from common import PeerTimer, hemo_path, report, run_hemo


def ct_volume(shape_kji, seed=7):
    rng = np.random.default_rng(seed)
    k, j, i = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape_kji], indexing="ij")
    nk, nj, ni = shape_kji
    r = np.sqrt(((i - ni / 2) / (ni * 0.42)) ** 2 + ((j - nj / 2) / (nj * 0.47)) ** 2
                + ((k - nk / 2) / (nk * 0.6)) ** 2)
    v = np.full(shape_kji, -1000.0, dtype=np.float32)
    v[r < 1.0] = 1100.0
    v[r < 0.92] = 38.0
    v += rng.normal(0, 12, size=shape_kji).astype(np.float32)
    return np.clip(np.round(v), -1024, 3071).astype(np.int16)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--size", default="512,512,36")
    ap.add_argument("--from-spacing", default="0.45,0.45,5")
    ap.add_argument("--to-spacing", default="1,1,1")
    ap.add_argument("--interpolation", default="linear", choices=["linear", "nearest", "bspline"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hemo", default=None)
    args = ap.parse_args()
    size = [int(x) for x in args.size.split(",")]
    src = [float(x) for x in args.from_spacing.split(",")]
    dst = [float(x) for x in args.to_spacing.split(",")]

    arr = ct_volume((size[2], size[1], size[0]))
    tmp = tempfile.mkdtemp(prefix="hemo-bench-resample-")
    raw = os.path.join(tmp, "ct.raw")
    out_raw = os.path.join(tmp, "ours.raw")
    arr.astype("<i2").tofile(raw)

    # Peer: SimpleITK, one thread.
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(src)
    img.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    new_size = [max(1, int(math.floor(n * s / t + 0.5))) for n, s, t in zip(size, src, dst)]
    interp = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor, "bspline": sitk.sitkBSpline}[args.interpolation]
    cmd = [hemo_path(args.hemo, "hemo-bench"), "resample", "--input", raw, "--size", args.size, "--from", args.from_spacing,
           "--to", args.to_spacing, "--interpolation", args.interpolation, "--threads", str(args.threads),
           "--repeat", str(args.repeat), "--warmup", "1", "--output", out_raw]
    # Each side gets one untimed warm-up run, then `repeat` timed runs in one process (steady state for both:
    # allocator, caches, threads). Wall-clock and CPU times are both reported; on a shared machine the CPU
    # time is the steadier measure.
    sitk.Resample(img, new_size, sitk.Transform(), interp, img.GetOrigin(), dst, img.GetDirection(), -1024.0,
                  sitk.sitkInt16)
    ours = run_hemo(cmd)[0]
    peer = []
    for _ in range(args.repeat):
        with PeerTimer() as timer:
            ref = sitk.Resample(img, new_size, sitk.Transform(), interp, img.GetOrigin(), dst, img.GetDirection(),
                                -1024.0, sitk.sitkInt16)
        peer.append(timer.result)

    ref_arr = sitk.GetArrayFromImage(ref)
    our_arr = np.fromfile(out_raw, dtype="<i2").reshape(ref_arr.shape)
    diff = np.abs(our_arr.astype(np.int32) - ref_arr.astype(np.int32))
    print("command: %s" % " ".join(cmd))
    print("input %s int16 %s mm -> %s mm (%s), %s, %d thread(s); output %s"
          % ("x".join(map(str, size)), args.from_spacing, args.to_spacing, "x".join(map(str, new_size)),
             args.interpolation, args.threads, "SimpleITK " + sitk.Version_VersionString()))
    print("agreement: max |ours - SimpleITK| = %d HU, voxels differing: %d of %d"
          % (diff.max(), int((diff > 0).sum()), diff.size))
    report("resample %s" % args.interpolation, ours, peer, "SimpleITK", 4.0)


if __name__ == "__main__":
    main()
