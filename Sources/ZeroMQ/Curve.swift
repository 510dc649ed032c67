import CZeroMQ

/// Encodes `bytes` as Z85 text (`zmq_z85_encode`); the count must be a multiple of 4.
public func z85Encode(_ bytes: [UInt8]) throws(ZeroMQError) -> String {
    guard bytes.count % 4 == 0 else {
        throw ZeroMQError(code: .invalidKey, message: "Z85 encodes a multiple of 4 bytes, got \(bytes.count)",
                          operation: "zmq_z85_encode")
    }
    var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
    let ok = text.withUnsafeMutableBufferPointer { out in
        bytes.withUnsafeBufferPointer { input in zmq_z85_encode(out.baseAddress, input.baseAddress, input.count) != nil }
    }
    guard ok else { throw ZeroMQError.current("zmq_z85_encode") }
    return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Decodes Z85 `text` (`zmq_z85_decode`); its length must be a multiple of 5 and every
/// character from the Z85 alphabet.
public func z85Decode(_ text: String) throws(ZeroMQError) -> [UInt8] {
    let characters = Array(text.utf8)
    let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
    guard characters.count % 5 == 0, characters.allSatisfy({ alphabet.contains($0) }) else {
        throw ZeroMQError(code: .invalidKey, message: "not Z85 text (length \(characters.count), must be a multiple of 5 from the Z85 alphabet)",
                          operation: "zmq_z85_decode")
    }
    var output = [UInt8](repeating: 0, count: characters.count / 5 * 4)
    let cString = characters.map { CChar(bitPattern: $0) } + [0]
    let ok = output.withUnsafeMutableBufferPointer { out in
        cString.withUnsafeBufferPointer { zmq_z85_decode(out.baseAddress, $0.baseAddress) != nil }
    }
    guard ok || characters.isEmpty else { throw ZeroMQError.current("zmq_z85_decode") }
    return output
}

/// A 32-byte CURVE key (public or secret), readable as 40 characters of Z85.
public struct CurveKey: Hashable, Sendable, CustomStringConvertible {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    /// A key from its 32 bytes.
    public init(bytes: [UInt8]) throws(ZeroMQError) {
        guard bytes.count == 32 else {
            throw ZeroMQError(code: .invalidKey, message: "a CURVE key has 32 bytes, got \(bytes.count)", operation: "CurveKey")
        }
        self.bytes = bytes
    }

    /// A key from its 40-character Z85 text.
    public init(z85 text: String) throws(ZeroMQError) {
        guard text.utf8.count == 40 else {
            throw ZeroMQError(code: .invalidKey, message: "a Z85 CURVE key has 40 characters, got \(text.utf8.count)",
                              operation: "CurveKey")
        }
        try self.init(bytes: z85Decode(text))
    }

    /// The key as 40 characters of Z85.
    public var z85: String { (try? z85Encode(bytes)) ?? "" }

    /// The Z85 text (a secret key's too, so never log secret keys).
    public var description: String { z85 }
}

/// A CURVE key pair (`zmq_curve_keypair`).
public struct CurveKeyPair: Hashable, Sendable {
    /// The public key, given to peers.
    public let publicKey: CurveKey
    /// The secret key, kept by its owner.
    public let secretKey: CurveKey

    /// A pair from existing keys.
    public init(publicKey: CurveKey, secretKey: CurveKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Generates a new random pair (`zmq_curve_keypair`; needs libzmq built with CURVE).
    public static func generate() throws(ZeroMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&publicText, &secretText) }
        func text(_ c: [CChar]) -> String { String(decoding: c.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CurveKeyPair(publicKey: try CurveKey(z85: text(publicText)), secretKey: try CurveKey(z85: text(secretText)))
    }

    /// Whether this libzmq supports CURVE (`zmq_has("curve")`).
    public static var isSupported: Bool { zmq_has("curve") == 1 }
}
