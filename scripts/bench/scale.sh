#!/usr/bin/env bash
# Scale simulation: ONE real `hemo coordinator` (its own process, the real poll loop, scheduler and
# release writer) driven by 100, 500 and 2,000 simulated workers (`hemo-bench scale-workers`: DEALER
# sockets in one process, fake compute with log-normal times, real CHUNK/DONE results).
# Reports coordinator CPU per job, peak RSS, dispatch latency percentiles and jobs/s per worker
# count, so we know where the coordinator becomes the bottleneck.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/bench/scale.sh [--workers "100 500 2000"] [--jobs-per-worker J] [--median-ms M]
                              [--sigma S] [--heartbeat-ms H] [--liveness L] [--timeout SECONDS] [--hemo PATH] [--bench PATH] [--keep]
                              [--coordinator-args "ARGS"]
                              [--coordinators C]

For each worker count N: writes a cohort of N*J exams (all listing one tiny synthetic template
case, 32x32x4 voxels, so the simulator computes one real result and re-sends it under each exam's
name), starts `hemo coordinator` on a free loopback port, runs `hemo-bench scale-workers` with N
simulated workers (capacity 1, prefetch 1, heartbeats), waits for the committed release, and
prints one table.

Columns:
  demand/s     jobs/s the workers could absorb: N / mean fake compute time
  jobs/s       steady state: DONEs per second between the 10th and the 90th percentile DONE
  ratio        jobs/s / demand/s: near 1 the workers are the limit; well below 1 the workers
               wait for the coordinator, i.e. the coordinator is the bottleneck
  p50/p90/p99  dispatch latency in ms: from a credit (READY, or a DONE sent) to the JOB that
               used it arriving at the simulated worker
  cpu ms/job   coordinator user+system CPU over the run (all its threads: poll loop, libzmq
               I/O, release writers) / jobs
  cores        that CPU / wall time
  peak RSS     coordinator VmHWM at the end of the run
  tail s       from the last DONE to the coordinator's "shutdown": releases still queued for
               the writer threads, then the commit (a long tail: the writers are behind)
  poll ms/job  CPU of the coordinator's poll-loop thread per job: one thread, so the coordinator
               cannot exceed 1000 / this many jobs/s
  write ms/job CPU of the coordinator's other threads (the release writers, 2 by default) per job
  deaths       workers the coordinator declared dead (it judges silence only over what it has read,
               so a backlog in its socket alone no longer kills live workers)
  sim_late     simulated workers that were themselves silent longer than the liveness limit (the
               simulator was starved of CPU): deaths up to this many are the simulator's fault

Defaults: --workers "100 500 2000" --jobs-per-worker 4 --median-ms 300 --sigma 0.5
--heartbeat-ms 1000 --liveness 5 (the coordinator declares a worker dead after L silent intervals)
--timeout 300 (per simulation; a real exam takes seconds; the fake compute is scaled down about 10x, so
the demand per worker is ~10x a real one: N simulated workers load the coordinator like ~10N real
ones). Needs ulimit -n of at least 2*N+256 (raised to the hard limit automatically).
--hemo PATH uses that binary instead of building `swift build -c release --product hemo` (and
`hemo-bench` beside it, or --bench PATH).
--keep leaves the cohorts and releases in the temporary folder.
--coordinator-args "ARGS" passes more options to each `hemo coordinator` (e.g. "--writer-threads 4
--max-queued-results 256").
--coordinators C (default 1) runs C coordinators at once, each on part k/C of one cohort of
N*J*C exams (`--part k/C`) with its own N simulated workers: one row per coordinator, then the C
parts are merged with `hemo release merge` and the result compared with `hemo build` of the
whole cohort (MANIFEST.sha256). Shows whether shards interfere on one machine.
USAGE
}

coordinator_args=() bench="" coordinators=1 worker_counts="100 500 2000" jobs_per_worker=4 median_ms=300 sigma=0.5 heartbeat_ms=1000 liveness=5 hemo="" keep=0 timeout=300 failures=0
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --workers) worker_counts=$2; shift 2 ;;
        --jobs-per-worker) jobs_per_worker=$2; shift 2 ;;
        --median-ms) median_ms=$2; shift 2 ;;
        --sigma) sigma=$2; shift 2 ;;
        --heartbeat-ms) heartbeat_ms=$2; shift 2 ;;
        --liveness) liveness=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --hemo) hemo=$2; shift 2 ;;
        --bench) bench=$2; shift 2 ;;
        --coordinator-args) read -r -a coordinator_args <<<"$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        --coordinators) coordinators=$2; shift 2 ;;
        *) echo "scale.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/../.."
if [[ -z "$hemo" ]]; then
    swift build -c release --product hemo >&2
    swift build -c release --product hemo-bench >&2
    hemo="$(swift build -c release --show-bin-path)/hemo"
fi
[[ -n "$bench" ]] || bench="$(dirname "$hemo")/hemo-bench"
[[ -x "$hemo" ]] || { echo "scale.sh: $hemo is not an executable" >&2; exit 2; }
[[ -x "$bench" ]] || { echo "scale.sh: $bench is not an executable (swift build -c release --product hemo-bench, or --bench PATH)" >&2; exit 2; }

# File descriptors: the simulator holds ~2 per simulated worker (TCP + libzmq mailbox), the
# coordinator one per connected worker.
max_workers=0
for n in $worker_counts; do ((n > max_workers)) && max_workers=$n; done
need=$((2 * max_workers * coordinators + 256))
hard=$(ulimit -Hn)
if [[ "$hard" != unlimited && "$hard" -lt "$need" ]]; then
    echo "scale.sh: ulimit -n hard limit $hard is below the $need file descriptors $max_workers simulated workers need; raise it (e.g. in /etc/security/limits.conf) or use fewer --workers" >&2
    exit 2
fi
ulimit -n "$([[ "$hard" == unlimited ]] && echo 1048576 || echo "$hard")"

work=$(mktemp -d "${TMPDIR:-/tmp}/hemo-scale.XXXXXX")
coordinator_pid=""
coordinator_pids=()
cleanup() {
    if [[ -n "$coordinator_pid" ]]; then kill "$coordinator_pid" 2>/dev/null || true; fi
    for p in "${coordinator_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if ((keep)); then echo "scale.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$hemo" synth --out "$work/template" --cases 1 --in-plane 32 --slices 4 --annotations labelmap --seed 7 --threads 1 >/dev/null

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
merge_notes=()
declare -a rows=()
# C coordinators at once, each on its part of one cohort, each with its own simulated workers.
if ((coordinators > 1)); then
    for n in $worker_counts; do
        exams=$((n * jobs_per_worker * coordinators))
        cohort="$work/cohort-$n"
        mkdir -p "$cohort"
        cp -r "$work/template/case_000" "$cohort/template"
        {
            echo "case,ct,labelmap,subtype_masks,polygons"
            for ((i = 0; i < exams; i++)); do printf 'sim_%06d,template/ct.nii.gz,template/labelmap.nii.gz,,\n' "$i"; done
        } >"$cohort/cohort.csv"
        coordinator_pids=()
        endpoints=()
        for ((k = 1; k <= coordinators; k++)); do
            log="$work/coordinator-$n-$k"
            "$hemo" coordinator --cohort "$cohort" --out "$work/release-$n-part$k" --part "$k/$coordinators" \
                --bind tcp://127.0.0.1:0 --heartbeat-ms "$heartbeat_ms" --liveness "$liveness" "${coordinator_args[@]}" >"$log.out" 2>"$log.err" &
            coordinator_pids+=($!)
        done
        for ((k = 1; k <= coordinators; k++)); do
            log="$work/coordinator-$n-$k" endpoint=""
            for _ in $(seq 1 600); do
                endpoint=$(sed -n 's/^listening on //p' "$log.out")
                [[ -n "$endpoint" ]] && break
                sleep 0.1
            done
            [[ -n "$endpoint" ]] || { cat "$log.err" >&2; echo "scale.sh: coordinator $k did not start listening" >&2; exit 1; }
            endpoints+=("$endpoint")
        done
        echo "== N=$n per coordinator, $coordinators coordinators at once on $exams exams: ${endpoints[*]}" >&2
        sims=()
        for ((k = 1; k <= coordinators; k++)); do
            "$bench" scale-workers --connect "${endpoints[k - 1]}" --workers "$n" --median-ms "$median_ms" --sigma "$sigma" \
                --heartbeat-ms "$heartbeat_ms" --liveness "$liveness" --coordinator-pid "${coordinator_pids[k - 1]}" \
                --timeout "$timeout" --seed "$k" >"$work/sim-$n-$k.out" 2>"$work/sim-$n-$k.err" &
            sims+=($!)
        done
        for ((k = 1; k <= coordinators; k++)); do
            if ! wait "${sims[k - 1]}"; then
                echo "scale.sh: N=$n coordinator $k: the simulation did not finish" >&2
                tail -3 "$work/sim-$n-$k.err" >&2
                failures=1
            fi
        done
        parts=()
        for ((k = 1; k <= coordinators; k++)); do
            log="$work/coordinator-$n-$k"
            status=0
            wait "${coordinator_pids[k - 1]}" || status=$?
            released=$(sed -n 's/^cases: \([0-9]*\),.*/\1/p' "$log.out")
            deaths=$(grep -c ' is dead: ' "$log.err" || true)
            ((status == 0)) || { echo "scale.sh: coordinator $k exit $status" >&2; tail -5 "$log.err" >&2; failures=1; }
            sim=$(tail -n 1 "$work/sim-$n-$k.out")
            echo "coordinator $k/$coordinators: $sim" >&2
            rows+=("$sim released=${released:-0} deaths=$deaths")
            parts+=("$work/release-$n-part$k")
        done
        coordinator_pids=()
        released_total=0
        for r in "${rows[@]: -coordinators}"; do released_total=$((released_total + $(field released "$r"))); done
        ((released_total == exams)) || { echo "scale.sh: N=$n: the parts released $released_total of $exams exams" >&2; failures=1; }
        merge_start=$(date +%s%N)
        "$hemo" release merge "${parts[@]}" --out "$work/merged-$n" >"$work/merge-$n.out" 2>&1 ||
            { cat "$work/merge-$n.out" >&2; failures=1; }
        merge_ms=$((($(date +%s%N) - merge_start) / 1000000))
        "$hemo" build --cohort "$cohort" --out "$work/whole-$n" --threads "$(nproc)" >/dev/null 2>&1
        if cmp -s "$work/merged-$n/MANIFEST.sha256" "$work/whole-$n/MANIFEST.sha256"; then
            echo "merge of $coordinators parts: ${merge_ms} ms for $exams exams; MANIFEST.sha256 equals hemo build's" >&2
            merge_notes+=("N=$n: merged $coordinators parts ($exams exams) in ${merge_ms} ms; equal to hemo build's manifest")
        else
            echo "scale.sh: N=$n: the merged release differs from hemo build's" >&2
            failures=1
        fi
        ((keep)) || rm -rf "$cohort" "$work/merged-$n" "$work/whole-$n" "${parts[@]}"
    done
    worker_counts=""
fi
for n in $worker_counts; do
    exams=$((n * jobs_per_worker))
    cohort="$work/cohort-$n"
    mkdir -p "$cohort"
    cp -r "$work/template/case_000" "$cohort/template"
    {
        echo "case,ct,labelmap,subtype_masks,polygons"
        for ((i = 0; i < exams; i++)); do printf 'sim_%06d,template/ct.nii.gz,template/labelmap.nii.gz,,\n' "$i"; done
    } >"$cohort/cohort.csv"

    log="$work/coordinator-$n"
    "$hemo" coordinator --cohort "$cohort" --out "$work/release-$n" --bind tcp://127.0.0.1:0 \
        --heartbeat-ms "$heartbeat_ms" --liveness "$liveness" "${coordinator_args[@]}" >"$log.out" 2>"$log.err" &
    coordinator_pid=$!
    endpoint=""
    for _ in $(seq 1 600); do
        endpoint=$(sed -n 's/^listening on //p' "$log.out")
        [[ -n "$endpoint" ]] && break
        kill -0 "$coordinator_pid" 2>/dev/null || { cat "$log.err" >&2; echo "scale.sh: the coordinator exited early" >&2; exit 1; }
        sleep 0.1
    done
    [[ -n "$endpoint" ]] || { echo "scale.sh: the coordinator did not start listening" >&2; exit 1; }

    echo "== N=$n: $exams exams, coordinator pid $coordinator_pid on $endpoint" >&2
    sim=$("$bench" scale-workers --connect "$endpoint" --workers "$n" --median-ms "$median_ms" --sigma "$sigma" \
        --heartbeat-ms "$heartbeat_ms" --liveness "$liveness" --coordinator-pid "$coordinator_pid" --timeout "$timeout") || {
        echo "scale.sh: N=$n: the simulation did not finish (see above); stopping the coordinator" >&2
        kill "$coordinator_pid" 2>/dev/null || true
        sim="bench-scale-workers workers=$n jobs=unfinished"
    }
    echo "$sim" >&2
    status=0
    wait "$coordinator_pid" || status=$?
    coordinator_pid=""
    released=$(sed -n 's/^cases: \([0-9]*\),.*/\1/p' "$log.out")
    deaths=$(grep -c ' is dead: ' "$log.err" || true)
    if ((status != 0)) || [[ "$released" != "$exams" ]]; then
        echo "scale.sh: N=$n: coordinator exit $status, release holds ${released:-no} of $exams cases" >&2
        tail -5 "$log.err" >&2
        failures=1
    fi
    grep -m1 '^wire:' "$log.out" >&2 || true
    rows+=("$sim released=${released:-0} deaths=$deaths")
    ((keep)) || rm -rf "$cohort" "$work/release-$n"
done

echo
((coordinators == 1)) || echo "== $coordinators coordinators at once, each on its part (--part k/$coordinators) with its own N simulated workers; one row per coordinator"
echo "== scale: $( ((coordinators == 1)) && echo "one coordinator" || echo "per coordinator"), N simulated workers (fake compute log-normal median ${median_ms} ms, sigma $sigma; $jobs_per_worker jobs per worker; heartbeat ${heartbeat_ms} ms; nproc=$(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg))"
fmt='%7s %6s %8s %9s %8s %6s %9s %9s %9s %10s %11s %12s %6s %10s %7s %7s %9s\n'
# shellcheck disable=SC2059
printf "$fmt" workers jobs released demand/s jobs/s ratio p50_ms p90_ms p99_ms cpu_ms/job poll_ms/job write_ms/job cores peakRSS_MB tail_s deaths sim_late
for r in "${rows[@]}"; do
    # shellcheck disable=SC2059
    printf "$fmt" \
        "$(field workers "$r")" "$(field jobs "$r")" "$(field released "$r")" "$(field demand_jobs_per_s "$r")" \
        "$(field steady_jobs_per_s "$r")" "$(awk -v a="$(field steady_jobs_per_s "$r")" -v b="$(field demand_jobs_per_s "$r")" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
        "$(field dispatch_p50_ms "$r")" \
        "$(field dispatch_p90_ms "$r")" "$(field dispatch_p99_ms "$r")" "$(field coord_cpu_ms_per_job "$r")" \
        "$(field coord_poll_thread_ms_per_job "$r")" "$(field coord_other_threads_ms_per_job "$r")" "$(field coord_cores "$r")" "$(field coord_peak_rss_mb "$r")" \
        "$(field tail_s "$r")" "$(field deaths "$r")" "$(field sim_late_workers "$r")"
done
echo "ratio well below 1 (with a long dispatch latency, a long tail or deaths) marks the worker count where the"
echo "coordinator is the bottleneck. Its capacity in jobs/s is about 1000 / poll_ms/job for the poll loop (one"
echo "thread) and 1000 x writers / write_ms/job for the release writers; with a real exam time of T seconds the"
echo "coordinator keeps about capacity x T workers busy (the heartbeat load per worker is real, not scaled)."
for note in "${merge_notes[@]}"; do echo "$note"; done
((failures == 0)) || { echo "scale.sh: some runs did not release every exam (see above)" >&2; exit 1; }
