import Foundation
import HemoCluster
import Prometheus

/// One metric per value of a label (`stage`), created in the registry on first use and shared
/// afterwards; thread-safe. The `stage`-labelled histograms and counters of the coordinator and
/// the worker are such families.
final class LabelledFamily<Metric: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var members: [String: Metric] = [:]
    private let make: @Sendable (String) -> Metric

    /// A family whose member for a label value is made by `make`.
    init(make: @escaping @Sendable (String) -> Metric) { self.make = make }

    /// The member for `label`, made now if it is the first use.
    subscript(_ label: String) -> Metric {
        lock.withLock {
            if let existing = members[label] { return existing }
            let created = make(label)
            members[label] = created
            return created
        }
    }
}

/// Settings that deliver events to an optional observer: ``CoordinatorSettings`` and ``WorkerSettings``.
protocol ObservedSettings {
    associatedtype Event
    var observer: (@Sendable (Event) -> Void)? { get set }
}

extension CoordinatorSettings: ObservedSettings {}
extension WorkerSettings: ObservedSettings {}

extension ObservedSettings {
    /// Adds `observe` after the observer already installed (if any).
    mutating func chainObserver(_ observe: @escaping @Sendable (Event) -> Void) {
        let previous = observer
        observer = { event in
            previous?(event)
            observe(event)
        }
    }
}
