import Prometheus

/// Metric constructors taking the full `hemo_…` name and its HELP text, through swift-prometheus'
/// ``MetricNameDescriptor`` (the name is given whole, so it reads as it is exposed).
extension PrometheusCollectorRegistry {
    private static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    func hemoCounter(name: String, labels: [(String, String)] = [], help: String) -> Counter {
        makeCounter(descriptor: Self.descriptor(name, help), labels: labels)
    }

    func hemoGauge(name: String, labels: [(String, String)] = [], help: String) -> Gauge {
        makeGauge(descriptor: Self.descriptor(name, help), labels: labels)
    }

    func hemoHistogram(name: String, labels: [(String, String)] = [], buckets: [Double], help: String) -> ValueHistogram {
        makeValueHistogram(descriptor: Self.descriptor(name, help), labels: labels, buckets: buckets)
    }
}
