#!/usr/bin/env python3
"""zlib against libdeflate on the buffers a release writes and a build reads.

Compresses the uncompressed bytes of real release files (a CT and a mask, taken from a synthetic
release that `hemo` writes) with zlib (Python's zlib module: the system zlib) and with Debian's
libdeflate (through ctypes), at the levels the release uses, whole-buffer and in the 1 MiB
members `hemo` writes, then decompresses both. Prints the median of REPEATS runs, sizes and the
ratios zlib / libdeflate (above 1: libdeflate is faster).
"""
import argparse, ctypes, ctypes.util, gzip, statistics, sys, time, zlib


def load_libdeflate():
    name = ctypes.util.find_library("deflate") or "libdeflate.so.0"
    lib = ctypes.CDLL(name)
    lib.libdeflate_alloc_compressor.restype = ctypes.c_void_p
    lib.libdeflate_alloc_compressor.argtypes = [ctypes.c_int]
    lib.libdeflate_gzip_compress_bound.restype = ctypes.c_size_t
    lib.libdeflate_gzip_compress_bound.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.libdeflate_gzip_compress.restype = ctypes.c_size_t
    lib.libdeflate_gzip_compress.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    lib.libdeflate_alloc_decompressor.restype = ctypes.c_void_p
    lib.libdeflate_gzip_decompress_ex.restype = ctypes.c_int
    lib.libdeflate_gzip_decompress_ex.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                                   ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
    return lib


def median_time(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="+", help=".nii.gz files (their uncompressed bytes are the input)")
    ap.add_argument("--levels", default="1,6")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    lib = load_libdeflate()
    dec = lib.libdeflate_alloc_decompressor()
    chunk = 1 << 20
    print(f"{'file':28s} {'MB':>6s} {'lvl':>3s} {'zlib ms':>8s} {'libdeflate ms':>13s} {'members ms':>10s} {'ratio':>6s}"
          f" {'zlib size':>10s} {'ldf size':>10s} {'inflate zlib':>12s} {'ldf':>6s} {'ratio':>6s}")
    worst = {}
    for path in a.files:
        raw = gzip.open(path).read()
        for level in [int(x) for x in a.levels.split(",")]:
            def z():
                c = zlib.compressobj(level, zlib.DEFLATED, 31)
                return c.compress(raw) + c.flush()
            comp = lib.libdeflate_alloc_compressor(level)
            bound = lib.libdeflate_gzip_compress_bound(comp, len(raw))
            out = ctypes.create_string_buffer(bound)

            def d_whole():
                return lib.libdeflate_gzip_compress(comp, raw, len(raw), out, bound)

            def d_members():
                total = 0
                for start in range(0, len(raw), chunk):
                    piece = raw[start:start + chunk]
                    total += lib.libdeflate_gzip_compress(comp, piece, len(piece), out, bound)
                return total
            tz, zbytes = median_time(z, a.repeats)
            td, _ = median_time(d_whole, a.repeats)
            tm, msize = median_time(d_members, a.repeats)
            outbuf = ctypes.create_string_buffer(len(raw))
            inn, outn = ctypes.c_size_t(), ctypes.c_size_t()

            def inflate_zlib():
                return zlib.decompress(zbytes, 31)

            def inflate_ldf():
                r = lib.libdeflate_gzip_decompress_ex(dec, zbytes, len(zbytes), outbuf, len(raw), ctypes.byref(inn), ctypes.byref(outn))
                assert r == 0, r
                return outn.value
            ti, _ = median_time(inflate_zlib, a.repeats)
            tl, _ = median_time(inflate_ldf, a.repeats)
            name = path.split("/")[-2] + "/" + path.split("/")[-1] if "/" in path else path
            print(f"{name[-28:]:28s} {len(raw) / 1e6:6.1f} {level:3d} {tz * 1e3:8.1f} {td * 1e3:13.1f} {tm * 1e3:10.1f}"
                  f" {tz / tm:6.2f} {len(zbytes):10d} {msize:10d} {ti * 1e3:12.1f} {tl * 1e3:6.1f} {ti / tl:6.2f}")
            worst.setdefault(level, []).append(tz / tm)
    for level, ratios in worst.items():
        print(f"level {level}: zlib / libdeflate (1 MiB members) compression time, worst {min(ratios):.2f}, median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    sys.exit(main())
