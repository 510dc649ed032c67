import CLibCrypto

/// A digest OpenSSL's libcrypto could not compute, naming the operation.
public struct LibCryptoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done, e.g. "SHA-256 of 524288 bytes".
    public var operation: String
    /// An error about `operation`.
    public init(operation: String) { self.operation = operation }
    /// A readable sentence.
    public var description: String { "libcrypto: \(operation) failed" }
}

/// SHA-256 through OpenSSL's libcrypto (`EVP_Digest` with `EVP_sha256`), which uses the CPU's
/// SHA extensions (SHA-NI) or AVX2 code paths when present: several times faster than the
/// pure-Swift ``HemoCore/SHA256`` for the gigabytes of DICOM files a cohort hashes for provenance.
///
/// One-shot and stateless: `EVP_Digest` allocates and frees its own context on each call, so
/// any number of threads may hash at once. The digest is the same as HemoCore's (FIPS 180-4).
public enum LibCrypto {
    /// The 32-byte SHA-256 of `bytes` (stands for `EVP_Digest(…, EVP_sha256(), nil)`).
    /// - Throws: ``LibCryptoError`` when libcrypto reports a failure (out of memory).
    public static func sha256(_ bytes: UnsafeRawBufferPointer) throws(LibCryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { o in
            EVP_Digest(bytes.baseAddress, bytes.count, o.baseAddress, &length, EVP_sha256(), nil)
        }
        guard ok == 1, length == 32 else { throw LibCryptoError(operation: "SHA-256 of \(bytes.count) bytes") }
        return out
    }

    /// The lowercase hex SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) throws(LibCryptoError) -> String {
        let digest = try sha256(bytes)
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var hex = [UInt8](repeating: 0, count: 64)
        for (i, b) in digest.enumerated() {
            hex[2 * i] = digits[Int(b >> 4)]
            hex[2 * i + 1] = digits[Int(b & 15)]
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
