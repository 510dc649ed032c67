import Foundation
import HemoCluster
import Prometheus

/// A worker's Prometheus metrics (names in the `HemoMetrics` article "Metrics"), fed by its
/// events (``observe(_:)``, installed with ``install(into:)``).
public final class WorkerMetrics: @unchecked Sendable {
    /// The registry every metric lives in.
    public let registry: PrometheusCollectorRegistry
    let jobsStarted, jobsDone: Counter
    let wire: WireTrafficMetrics
    let jobsInFlight, capacity: Gauge
    let jobSeconds: ValueHistogram
    private let stageHistograms: LabelledFamily<ValueHistogram>
    private let failures: LabelledFamily<Counter>
    let process: ProcessMetrics

    /// Metrics in `registry` (a new one by default) for a worker running `capacity` jobs at once.
    public init(capacity jobsAtOnce: Int, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let r = registry
        jobsStarted = r.hemoCounter(name: "hemo_worker_jobs_started_total", help: "Jobs this worker started.")
        jobsDone = r.hemoCounter(name: "hemo_worker_jobs_done_total", help: "Jobs this worker finished with DONE.")
        jobsInFlight = r.hemoGauge(name: "hemo_worker_jobs_in_flight", help: "Jobs running on this worker's compute threads.")
        capacity = r.hemoGauge(name: "hemo_worker_capacity", help: "Jobs this worker runs at once (--capacity).")
        wire = WireTrafficMetrics(registry: r, prefix: "hemo_worker", peer: "the coordinator")
        jobSeconds = r.hemoHistogram(name: "hemo_worker_job_seconds", buckets: hemoLatencyBuckets,
                                          help: "Seconds per job on a compute thread, from start to encoded result (DONE or FAILED).")
        stageHistograms = LabelledFamily { stage in
            r.hemoHistogram(name: "hemo_worker_stage_seconds", labels: [("stage", stage)], buckets: hemoLatencyBuckets,
                            help: "Seconds per job in one stage on this worker: the pipeline's stages (build jobs: hash, read, masks, transform; infer jobs: hash, read, transform, preprocess, inference, postprocess), then analyse and encode (the release files and result chunks).")
        }
        failures = LabelledFamily { stage in
            r.hemoCounter(name: "hemo_worker_jobs_failed_total", labels: [("stage", stage)],
                          help: "Jobs this worker answered with FAILED, by the stage that failed (model: an infer job refused for want of the job's model).")
        }
        process = ProcessMetrics(registry: r)
        capacity.set(Double(jobsAtOnce))
        for stage in ["hash", "read", "masks", "transform", "encode"] { _ = stageHistograms[stage] }
        _ = failures["worker"]
    }

    /// Installs ``observe(_:)`` as the settings' observer (keeping an observer already there).
    public func install(into settings: inout WorkerSettings) {
        settings.chainObserver { [self] event in observe(event) }
    }

    /// Updates the metrics for one worker event.
    public func observe(_ event: WorkerEvent) {
        switch event {
        case .received(let bytes):
            wire.received(bytes: bytes)
        case .sent(let bytes):
            wire.sent(bytes: bytes)
        case .jobStarted:
            jobsStarted.increment()
            jobsInFlight.increment()
        case .jobFinished(_, _, let seconds, let outcome):
            jobsInFlight.decrement()
            jobSeconds.record(seconds)
            switch outcome {
            case .done(let timings):
                jobsDone.increment()
                var staged = 0.0
                var encodeReported = false
                for t in timings {
                    let s = Double(t.nanoseconds) / 1e9
                    staged += s
                    let label = CoordinatorMetrics.stageLabel(t.stage)
                    if label == "encode" { encodeReported = true }
                    stageHistograms[label].record(s)
                }
                // Workers that encode the release files report `encode` in DONE; otherwise it is
                // the rest of the job's time.
                if !encodeReported { stageHistograms["encode"].record(max(0, seconds - staged)) }
            case .failed(let stage):
                failures[CoordinatorMetrics.stageLabel(stage)].increment()
            }
        }
    }

    /// The exposition text (process gauges refreshed).
    public func exposition() -> [UInt8] {
        process.refresh()
        return registry.emitToBuffer()
    }
}
