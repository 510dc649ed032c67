#!/usr/bin/env python3
"""onnxruntime peer of scripts/bench/model_zoo.sh.

    model_zoo_peer.py run MODEL INPUT.npy THREADS RUNS

Times whole runs (one warm-up, then RUNS timed) with intra_op_num_threads=THREADS and prints the
median wall and CPU time per run, the process's resident memory before the session was created
and its peak (VmHWM): engine_mb = peak - before, the figure comparable to hemo's 'engine memory'.
"""
import sys
import time

import numpy as np


def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(model, input_path, threads, runs):
    import onnxruntime as ort
    x = np.load(input_path)
    before = status_mb("VmRSS")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    session.run(None, {name: x})
    times, cpu = [], []
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        session.run(None, {name: x})
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - cpu_start) * 1000)
    print(f"ort_ms_per_run {np.median(times):.2f}")
    print(f"ort_cpu_ms_per_run {np.median(cpu):.2f}")
    print(f"ort_engine_mb {status_mb('VmHWM') - before:.1f}")


if __name__ == "__main__":
    if len(sys.argv) != 6 or sys.argv[1] != "run":
        sys.exit(__doc__)
    run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
