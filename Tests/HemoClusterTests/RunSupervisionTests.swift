import Foundation
import HemoTestKit
import HemoRelease
import Testing

/// Runs that cannot hang: every worker killed, through real processes. Every wait is bounded.
@Suite(.serialized) struct RunSupervisionTests {
    /// The pids of `parent`'s children (from /proc).
    static func children(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> Int32? in
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 2 && Int32(fields[1]) == parent ? pid : nil
        }
    }

    static func manifest(_ release: String) -> String? { try? String(contentsOfFile: release + "/MANIFEST.sha256", encoding: .utf8) }

    static func journal(_ release: String) -> String {
        let url = URL(fileURLWithPath: release)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".journal"
    }

    @Test func hemoRunRestartsWorkersThatDie() throws {
        let cohort = try TinyCohort.make(count: 6)
        _ = try cohort.referenceManifest()
        let run = try Hemo.spawn(["run", "--cohort", cohort.root, "--out", cohort.release("restarted"), "--workers", "2",
                                  "--heartbeat-ms", "100", "--restart-backoff-ms", "100"])
        // Kill the first two worker processes as soon as they appear.
        var killed = Set<Int32>()
        _ = eventually(20) {
            for pid in Self.children(of: run.pid) where !killed.contains(pid) && killed.count < 2 {
                kill(pid, SIGKILL)
                killed.insert(pid)
            }
            return killed.count == 2 || !run.process.isRunning
        }
        #expect(killed.count == 2)
        #expect(run.wait(seconds: 60) == 0, "\(run.stderr)")
        #expect(run.stderr.contains("ended with killed by signal 9; restarting it in"), "\(run.stderr)")
        #expect(Self.manifest(cohort.release("restarted")) == Self.manifest(cohort.release("reference")))
    }

    /// `hemo run` killed with SIGKILL cannot stop its workers; they notice that their parent is
    /// gone (--parent-pid) and exit with status 4 instead of waiting for its coordinator forever.
    @Test func workersEndWhenHemoRunIsKilled() throws {
        let cohort = try TinyCohort.make(count: 6)
        let run = try Hemo.spawn(["run", "--cohort", cohort.root, "--out", cohort.release("orphaned"), "--workers", "2",
                                  "--heartbeat-ms", "100"])
        var workers: [Int32] = []
        #expect(eventually(20) {
            workers = Self.children(of: run.pid)
            return workers.count == 2 || !run.process.isRunning
        })
        #expect(workers.count == 2, "\(run.stderr)")
        run.kill(SIGKILL)
        _ = run.wait(seconds: 10)
        // Re-parented, the workers are no longer anyone's children we can wait for: watch /proc.
        let ended = eventually(10) { workers.allSatisfy { !FileManager.default.fileExists(atPath: "/proc/\($0)/cmdline") || Self.isZombie($0) } }
        for pid in workers where !ended { kill(pid, SIGKILL) }
        #expect(ended, "the workers of a killed hemo run are still running: \(workers)")
        #expect(Self.manifest(cohort.release("orphaned")) == nil, "a killed run commits nothing")
    }

    /// True when `pid` has exited and only its process-table entry is left.
    static func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    @Test func hemoRunFailsWhenNoWorkerCanRunAndKeepsTheJournal() throws {
        let cohort = try TinyCohort.make(count: 6)
        _ = try cohort.referenceManifest()
        let out = cohort.release("doomed")
        let args = ["run", "--cohort", cohort.root, "--out", out, "--workers", "2", "--heartbeat-ms", "100"]
        let run = try Hemo.spawn(args + ["--worker-restarts", "2", "--restart-backoff-ms", "20"])
        // Kill every worker process, again and again, until the run gives up (bounded).
        _ = eventually(60) {
            for pid in Self.children(of: run.pid) { kill(pid, SIGKILL) }
            return !run.process.isRunning
        }
        let status = run.wait(seconds: 10)
        #expect(status == 1, "\(run.stderr)")
        #expect(run.stderr.contains("no worker can run: 2 of 2 worker processes died 3 times in a row (last: worker"), "\(run.stderr)")
        #expect(run.stderr.contains("the journal keeps released exams; the same command resumes"), "\(run.stderr)")
        #expect(Self.manifest(out) == nil, "a failed run commits nothing")
        #expect(FileManager.default.fileExists(atPath: Self.journal(out)), "the journal is kept for resume")
        // The same command resumes and completes the release.
        let resumed = try Hemo.spawn(args)
        #expect(resumed.wait(seconds: 60) == 0, "\(resumed.stderr)")
        #expect(Self.manifest(out) == Self.manifest(cohort.release("reference")))
    }

    @Test func aCoordinatorWhoseWorkersAllDiedEndsAfterItsIdleTimeout() throws {
        let cohort = try TinyCohort.make(count: 4)
        _ = try cohort.referenceManifest()
        let out = cohort.release("idle")
        let coordinator = try Hemo.spawn(["coordinator", "--cohort", cohort.root, "--out", out, "--bind", "tcp://127.0.0.1:0",
                                          "--heartbeat-ms", "100", "--idle-timeout", "1.5"])
        defer { _ = coordinator.wait(seconds: 0) }
        var endpoint = ""
        #expect(eventually(20) {
            if let line = coordinator.stdout.split(separator: "\n").first(where: { $0.hasPrefix("listening on ") }) {
                endpoint = String(line.dropFirst("listening on ".count))
            }
            return !endpoint.isEmpty
        }, "\(coordinator.stderr)")
        // A worker that holds its jobs for a long time joins, takes a job, and is killed.
        let worker = try Hemo.worker(endpoint, id: "victim", extra: ["--job-delay-ms", "30000"])
        #expect(eventually(20) { worker.stderr.contains("worker: connected") }, "\(worker.stderr)")
        Thread.sleep(forTimeInterval: 0.3)
        worker.kill(SIGKILL)
        worker.process.waitUntilExit()
        let status = coordinator.wait(seconds: 30)
        #expect(status == 1, "\(coordinator.stderr)")
        #expect(coordinator.stderr.contains("no worker is connected to take the 4 remaining exams for 1.5 s (--idle-timeout)"), "\(coordinator.stderr)")
        #expect(Self.manifest(out) == nil)
        #expect(FileManager.default.fileExists(atPath: Self.journal(out)))
        // Without workers at all, it also ends (the timer runs from the start).
        let lonely = try Hemo.spawn(["coordinator", "--cohort", cohort.root, "--out", out, "--bind", "tcp://127.0.0.1:0",
                                     "--heartbeat-ms", "100", "--idle-timeout", "0.5"])
        #expect(lonely.wait(seconds: 30) == 1, "\(lonely.stderr)")
        #expect(lonely.stderr.contains("for 0.5 s (--idle-timeout)"), "\(lonely.stderr)")
    }
}
