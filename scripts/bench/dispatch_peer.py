#!/usr/bin/env python3
"""Python peer for `hemo-bench dispatch`: the same no-op dispatch loop with pyzmq.

One ROUTER and N DEALER workers in one process and one thread, a credit-based scheduler
(capacity + 1 prefetch per worker, largest exams first through a heap), and JOB/DONE messages
packed with `struct` in a HEMO-like frame layout. Prints one line per run and the median,
in the same format as the Swift command, so scripts/bench/dispatch.sh can compare them.

Usage: dispatch_peer.py --workers 8 --jobs 100000 --capacity 4 --transport inproc --repeats 3
"""
import argparse
import heapq
import resource
import statistics
import struct
import time
import uuid

import zmq

HEADER = b"HEMO\x01"


def encode_job(job_id, exam, attempt):
    exam_b = exam.encode()
    path = f"/shared/cohort/{exam}.nii.gz".encode()
    options = b'{"noop":true}'
    fields = (struct.pack("<QI", job_id, len(exam_b)) + exam_b + struct.pack("<IB", attempt, 1)
              + struct.pack("<I", len(options)) + options + struct.pack("<BII", 1, 1, len(path)) + path)
    return [HEADER, b"\x02", fields]


def decode_job(frames):
    if frames[0] != HEADER or frames[1] != b"\x02":
        raise ValueError("not a JOB")
    f = frames[2]
    job_id, n = struct.unpack_from("<QI", f, 0)
    exam = f[12:12 + n].decode()
    attempt, = struct.unpack_from("<I", f, 12 + n)
    return job_id, exam, attempt


def encode_done(exam, attempt):
    exam_b = exam.encode()
    stage = b"noop"
    fields = (struct.pack("<I", len(exam_b)) + exam_b + struct.pack("<II", attempt, 1)
              + struct.pack("<I", len(stage)) + stage + struct.pack("<Q", 0))
    return [HEADER, b"\x05", fields, b'{"any":0}']


def decode_done(frames):
    if frames[0] != HEADER or frames[1] != b"\x05":
        raise ValueError("not a DONE")
    f = frames[2]
    n, = struct.unpack_from("<I", f, 0)
    exam = f[4:4 + n].decode()
    attempt, = struct.unpack_from("<I", f, 4 + n)
    return exam, attempt


def run_once(workers, jobs, capacity, transport):
    ctx = zmq.Context(io_threads=1)
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    endpoint = f"inproc://peer-{uuid.uuid4()}" if transport == "inproc" else "tcp://127.0.0.1:*"
    router.bind(endpoint)
    endpoint = router.getsockopt(zmq.LAST_ENDPOINT).decode()
    dealers = []
    for w in range(workers):
        d = ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.ROUTING_ID, f"w{w}".encode())
        d.connect(endpoint)
        dealers.append(d)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    for d in dealers:
        poller.register(d, zmq.POLLIN)

    exams = [f"bench-{i:08d}" for i in range(jobs)]
    pending = [(-((i * 2654435761) % 1000), exams[i]) for i in range(jobs)]
    heapq.heapify(pending)
    credit = {}
    attempts = {}
    running = {}
    next_job = 1
    completed = 0
    start = time.perf_counter()

    def fill():
        nonlocal next_job
        while pending:
            if not credit:
                return
            best, free = max(credit.items(), key=lambda kv: kv[1])  # ties: first READY wins
            if free <= 0:
                return
            _, exam = heapq.heappop(pending)
            attempts[exam] = attempts.get(exam, 0) + 1
            running[exam] = (best, attempts[exam])
            credit[best] -= 1
            router.send_multipart([best] + encode_job(next_job, exam, attempts[exam]))
            next_job += 1

    for w, d in enumerate(dealers):
        d.send_multipart([HEADER, b"\x01", struct.pack("<H", capacity)])
    while completed < jobs:
        ready = dict(poller.poll(100))
        if router in ready:
            while True:
                try:
                    frames = router.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                worker = frames[0]
                if frames[2] == b"\x01":
                    credit[worker] = struct.unpack("<H", frames[3])[0] + 1
                elif frames[2] == b"\x05":
                    exam, attempt = decode_done(frames[1:])
                    if running.get(exam) == (worker, attempt):
                        del running[exam]
                        credit[worker] += 1
                        completed += 1
                fill()
        for d in dealers:
            if d in ready:
                while True:
                    try:
                        frames = d.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    _, exam, attempt = decode_job(frames)
                    d.send_multipart(encode_done(exam, attempt))
    elapsed = time.perf_counter() - start
    for d in dealers:
        d.close()
    router.close()
    ctx.term()
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=100000)
    parser.add_argument("--capacity", type=int, default=4)
    parser.add_argument("--transport", choices=["inproc", "tcp"], default="inproc")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rates, cpu_rates = [], []
    for run in range(1, args.repeats + 1):
        cpu_before = cpu_seconds()
        seconds = run_once(args.workers, args.jobs, args.capacity, args.transport)
        cpu = cpu_seconds() - cpu_before
        rate = args.jobs / seconds
        cpu_rate = args.jobs / max(cpu, 1e-9)
        rates.append(rate)
        cpu_rates.append(cpu_rate)
        print(f"run {run}: {args.jobs} jobs in {seconds:.3f} s = {rate:.0f} jobs/s; {cpu:.3f} CPU-s = {cpu_rate:.0f} jobs/CPU-s")
    print(f"peer-dispatch transport={args.transport} workers={args.workers} capacity={args.capacity} "
          f"jobs={args.jobs} median={statistics.median(rates):.0f} jobs/s "
          f"cpu-median={statistics.median(cpu_rates):.0f} jobs/CPU-s")


def cpu_seconds():
    """User + system CPU time of this process, every thread included (as the Swift side measures)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
