"""Shared helpers for the HemoTransforms peer benchmarks (run ours and the peer in the same run)."""
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def hemo_path(arg):
    path = arg or os.path.join(ROOT, ".build", "release", "hemo")
    if not os.path.exists(path):
        sys.exit("hemo not found at %s: run `swift build -c release --product hemo` first (or pass --hemo)" % path)
    return path


def run_hemo(cmd):
    """Runs hemo, returns per-run milliseconds parsed from 'run N X ms' lines and the full output."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    times = [float(m.group(1)) for m in re.finditer(r"^run \d+ ([0-9.]+) ms$", out, re.M)]
    return times, out


def report(title, ours, peer, peer_name, target):
    mo, mp = statistics.median(ours), statistics.median(peer)
    print("%s" % title)
    print("  hemo      runs (ms): %s" % " ".join("%.1f" % t for t in ours))
    print("  %-9s runs (ms): %s" % (peer_name, " ".join("%.1f" % t for t in peer)))
    print("  median hemo %.1f ms, %s %.1f ms, speed-up %.2fx (target >= %.1fx: %s)"
          % (mo, peer_name, mp, mp / mo, target, "met" if mp / mo >= target else "NOT met"))
    return mp / mo
