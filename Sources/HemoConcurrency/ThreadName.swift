import Foundation

/// Names the calling thread for the OS (`/proc/PID/task/TID/comm`, `top -H`, perf), so that
/// operators and the scale benchmark can tell a poll loop from its helper threads. Foundation's
/// `Thread.name` does not reach the OS on Linux.
public func nameCurrentThread(_ name: String) {
    // Linux lets a thread rename itself through /proc (the kernel keeps 15 bytes); elsewhere,
    // or without /proc, the name is simply not set.
    guard let handle = FileHandle(forWritingAtPath: "/proc/thread-self/comm") else { return }
    defer { try? handle.close() }
    try? handle.write(contentsOf: Data(name.prefix(15).utf8))
}
