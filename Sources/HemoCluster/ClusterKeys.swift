import Foundation
import ZeroMQ

/// CURVE key files and the bind policy.
///
/// A secret key file (`hemo keygen`) holds two lines, `public <z85>` and `secret <z85>`; a public
/// key file holds one z85 key; an allowed-keys file holds one z85 public key per line (`#` comments).
public enum ClusterKeys {
    /// Reads a key pair written by ``write(_:secretPath:publicPath:)``.
    /// - Throws: ``ClusterError`` naming the file.
    public static func readKeyPair(_ path: String) throws(ClusterError) -> CurveKeyPair {
        let text = try read(path)
        var publicKey: CurveKey?, secretKey: CurveKey?
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else { continue }
            do {
                if parts[0] == "public" { publicKey = try CurveKey(z85: String(parts[1])) }
                if parts[0] == "secret" { secretKey = try CurveKey(z85: String(parts[1])) }
            } catch {
                throw ClusterError(path, "holds an invalid CURVE key: \(error)")
            }
        }
        guard let publicKey, let secretKey else {
            throw ClusterError(path, "is not a secret key file from `hemo keygen` (needs 'public' and 'secret' lines)")
        }
        return CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// Reads public keys, one z85 key per line (empty lines and `#` comments ignored).
    public static func readPublicKeys(_ path: String) throws(ClusterError) -> Set<CurveKey> {
        var keys: Set<CurveKey> = []
        for raw in try read(path).split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            // A secret key file may be given too: take its public line.
            let z85 = line.hasPrefix("public ") ? String(line.dropFirst(7)) : line
            if line.hasPrefix("secret ") { continue }
            do { keys.insert(try CurveKey(z85: z85)) } catch {
                throw ClusterError(path, "line '\(line.prefix(12))…' is not a z85 CURVE public key")
            }
        }
        guard !keys.isEmpty else { throw ClusterError(path, "holds no public key") }
        return keys
    }

    /// Writes `pair`: the secret file with mode 0600, the public file with the public key alone.
    public static func write(_ pair: CurveKeyPair, secretPath: String, publicPath: String) throws(ClusterError) {
        let secret = "public \(pair.publicKey.z85)\nsecret \(pair.secretKey.z85)\n"
        guard FileManager.default.createFile(atPath: secretPath, contents: Data(secret.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw ClusterError(secretPath, "cannot be written")
        }
        guard FileManager.default.createFile(atPath: publicPath, contents: Data((pair.publicKey.z85 + "\n").utf8)) else {
            throw ClusterError(publicPath, "cannot be written")
        }
    }

    private static func read(_ path: String) throws(ClusterError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw ClusterError(path, "cannot be read") }
        return String(decoding: data, as: UTF8.self)
    }

    /// Whether `endpoint` only accepts connections from this machine (loopback TCP, `ipc://`, `inproc://`).
    public static func isLocalOnly(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var host = String(endpoint.dropFirst(6))
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// The coordinator's CURVE set-up: its key pair and the worker keys it admits.
public struct CurveServerConfig: Sendable {
    /// The coordinator's long-term key pair.
    public var keyPair: CurveKeyPair
    /// Public keys of the workers (and `hemo status` clients) allowed in.
    public var allowedKeys: Set<CurveKey>

    /// A configuration.
    public init(keyPair: CurveKeyPair, allowedKeys: Set<CurveKey>) {
        self.keyPair = keyPair
        self.allowedKeys = allowedKeys
    }
}

/// A client's CURVE set-up: the coordinator's public key and the client's own pair.
public struct CurveClientConfig: Sendable {
    /// The coordinator's public key.
    public var serverKey: CurveKey
    /// This client's key pair.
    public var keyPair: CurveKeyPair

    /// A configuration.
    public init(serverKey: CurveKey, keyPair: CurveKeyPair) {
        self.serverKey = serverKey
        self.keyPair = keyPair
    }

    func apply(to socket: Socket) throws(ZeroMQError) {
        try socket.set(.curveServerKey(serverKey))
        try socket.set(.curvePublicKey(keyPair.publicKey))
        try socket.set(.curveSecretKey(keyPair.secretKey))
    }
}
