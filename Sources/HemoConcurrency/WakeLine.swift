#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A thread-safe wake-up line into a poll loop, over one OS primitive: a non-blocking pipe. The
/// loop polls ``fileDescriptor`` beside its sockets (`zmq_poll` and `poll(2)` both accept a raw
/// descriptor) and calls ``drain()`` once it is readable; any other thread calls ``signal()``.
/// Signals coalesce: several before a drain wake the loop once. (Glibc's Swift module does not
/// export `eventfd(2)`, and a pipe needs no C shim.)
///
/// The line owns its descriptor(s): ``close()`` (or `deinit`) closes them, and a ``signal()``
/// after ``close()`` does nothing (a lock orders the two, so a closed number reused by the OS is
/// never written to).
public final class WakeLine: @unchecked Sendable {
    /// The descriptor to poll for reading.
    public let fileDescriptor: Int32
    /// The pipe's write end, which ``signal()`` writes to.
    private let writeDescriptor: Int32
    private let lock = NSLock()
    private var closed = false

    /// Opens a non-blocking, close-on-exec line (`pipe(2)`).
    /// - Throws: ``WakeLineError`` when the OS refuses (out of descriptors).
    public init() throws(WakeLineError) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw WakeLineError(operation: "pipe", errno: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        fileDescriptor = fds[0]
        writeDescriptor = fds[1]
    }

    deinit { close() }

    /// Wakes the loop (thread-safe; a no-op once closed). Never blocks: a full pipe already
    /// means "awake".
    public func signal() {
        lock.lock(); defer { lock.unlock() }
        guard !closed else { return }
        var one: UInt8 = 1
        while write(writeDescriptor, &one, 1) < 0 && errno == EINTR {}
    }

    /// Clears pending signals (the loop's side; never blocks). Returns whether any was pending.
    @discardableResult
    public func drain() -> Bool {
        lock.lock(); defer { lock.unlock() }
        guard !closed else { return false }
        var any = false
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fileDescriptor, $0.baseAddress, $0.count) }
            if n > 0 { any = true; continue }
            if n < 0 && errno == EINTR { continue }
            return any
        }
    }

    /// Waits (`poll(2)`) until the line is signalled or `timeout` passes (`nil`: forever), then
    /// drains it. Returns whether it was signalled. For loops that have nothing else to poll.
    @discardableResult
    public func wait(timeout: Duration?) -> Bool {
        WakeLine.poll([fileDescriptor], timeout: timeout)
        return drain()
    }

    /// Closes the descriptor(s); later signals are ignored. Calling it again is a no-op.
    public func close() {
        lock.lock(); defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        _ = systemClose(fileDescriptor)
        _ = systemClose(writeDescriptor)
    }

    /// Waits (`poll(2)`, `EINTR` retried with the time left) until one of `descriptors` is
    /// readable or `timeout` passes (`nil`: forever); returns the readable ones' indices.
    @discardableResult
    public static func poll(_ descriptors: [Int32], timeout: Duration?) -> [Int] {
        var items = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            var milliseconds: Int32 = -1
            if let deadline {
                let remaining = deadline - ContinuousClock.now
                let (s, a) = remaining.components
                let ms = max(0, s * 1000 + (a + 999_999_999_999_999) / 1_000_000_000_000_000)
                milliseconds = Int32(clamping: ms)
            }
            let count = items.count
            let result = items.withUnsafeMutableBufferPointer { systemPoll($0.baseAddress, nfds_t(count), milliseconds) }
            if result >= 0 { break }
            if errno != EINTR { return [] }
        }
        return items.indices.filter { items[$0].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 }
    }
}

/// The OS refused a wake line.
public struct WakeLineError: Error, Sendable, CustomStringConvertible {
    /// The call that failed (`pipe`).
    public var operation: String
    /// Its `errno`.
    public var errno: Int32
    /// A sentence.
    public var description: String { "\(operation) failed: \(String(cString: strerror(errno)))" }
}

#if canImport(Glibc)
@inline(__always) private func systemClose(_ fd: Int32) -> Int32 { Glibc.close(fd) }
@inline(__always) private func systemPoll(_ fds: UnsafeMutablePointer<pollfd>?, _ n: nfds_t, _ ms: Int32) -> Int32 { Glibc.poll(fds, n, ms) }
#else
@inline(__always) private func systemClose(_ fd: Int32) -> Int32 { Darwin.close(fd) }
@inline(__always) private func systemPoll(_ fds: UnsafeMutablePointer<pollfd>?, _ n: nfds_t, _ ms: Int32) -> Int32 { Darwin.poll(fds, n, ms) }
#endif
