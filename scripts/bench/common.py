"""Shared helpers for the HemoTransforms peer benchmarks (run ours and the peer in the same run)."""
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def hemo_path(arg, product="hemo"):
    """The release binary `product` (hemo, or hemo-bench beside it), or `arg` when given."""
    path = arg or os.path.join(ROOT, ".build", "release", product)
    if arg and product != "hemo" and os.path.basename(arg) == "hemo":
        path = os.path.join(os.path.dirname(arg), product)
    if not os.path.exists(path):
        sys.exit("%s not found at %s: run `swift build -c release --product %s` first (or pass --hemo)" % (product, path, product))
    return path


def run_hemo(cmd):
    """Runs hemo; returns per-run (wall ms, cpu ms) parsed from 'run N X ms cpu Y ms' lines, and the output."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    times = [(float(m.group(1)), float(m.group(2)))
             for m in re.finditer(r"^run \d+ ([0-9.]+) ms cpu ([0-9.]+) ms$", out, re.M)]
    return times, out


class PeerTimer:
    """Times a block in wall-clock and process CPU milliseconds."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.result = ((time.perf_counter() - self.wall) * 1000, (time.process_time() - self.cpu) * 1000)


def report(title, ours, peer, peer_name, target):
    """Prints runs, medians and speed-ups for wall-clock and CPU time; returns the wall-clock speed-up."""
    print("%s" % title)
    ratios = {}
    for index, kind in ((0, "wall"), (1, "cpu")):
        o, p = [t[index] for t in ours], [t[index] for t in peer]
        mo, mp = statistics.median(o), statistics.median(p)
        ratios[kind] = mp / mo
        print("  [%s] hemo      runs (ms): %s" % (kind, " ".join("%.1f" % t for t in o)))
        print("  [%s] %-9s runs (ms): %s" % (kind, peer_name, " ".join("%.1f" % t for t in p)))
        print("  [%s] median hemo %.1f ms, %s %.1f ms, speed-up %.2fx (target >= %.1fx: %s)"
              % (kind, mo, peer_name, mp, mp / mo, target, "met" if mp / mo >= target else "NOT met"))
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print("  note: load average %.1f on %d cores during the run; wall-clock figures are noisy, CPU time "
              "is the steadier measure" % (os.getloadavg()[0], os.cpu_count() or 1))
    return ratios["wall"]
