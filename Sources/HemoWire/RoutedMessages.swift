extension WireMessage {
    /// Frames for a ROUTER to send to the peer with `routingID`: `[routingID] + encode()`.
    public func encode(routedTo routingID: [UInt8]) throws(WireError) -> [[UInt8]] {
        guard (1...255).contains(routingID.count) else {
            throw WireError(field: "envelope.routingID", reason: .invalidValue("a routing id has 1...255 bytes, got \(routingID.count)"))
        }
        return [routingID] + (try encode())
    }

    /// Splits what a ROUTER received — `[routingID, HEMO frames…]` — and decodes the message.
    /// - Returns: the sender's routing id and its message.
    public static func decode(routed frames: [[UInt8]]) throws(WireError) -> (routingID: [UInt8], message: WireMessage) {
        guard let routingID = frames.first, (1...255).contains(routingID.count) else {
            throw WireError(field: "envelope.routingID", reason: .invalidValue("missing or malformed routing id frame"))
        }
        return (routingID, try decode(Array(frames.dropFirst())))
    }
}
