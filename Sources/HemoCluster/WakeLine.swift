import Foundation
import ZeroMQ

/// A thread-safe wake-up line into a poll loop: an inproc PAIR pair. The loop owns the receiving
/// end; other threads call ``signal()``, serialised by a lock (libzmq allows a socket to move
/// between threads behind a full memory barrier).
final class WakeLine: @unchecked Sendable {
    private let sender: Socket
    private let lock = NSLock()
    private var closed = false

    init(context: Context, receiver: Socket) throws(ZeroMQError) {
        let address = "inproc://hemo-wake-\(UUID().uuidString)"
        try receiver.bind(address)
        sender = try context.socket(.pair)
        try sender.connect(address)
    }

    func signal() {
        lock.lock(); defer { lock.unlock() }
        guard !closed else { return }
        _ = try? sender.send([[1]], dontWait: true)
    }

    func close() {
        lock.lock(); defer { lock.unlock() }
        closed = true
        sender.close()
    }
}
