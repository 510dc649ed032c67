import Foundation

/// Reads and writes NumPy `.npy` files holding little-endian float32 arrays in C order.
///
/// Other element types, big-endian data and Fortran order are rejected with
/// ``InferenceError/numpyFile(path:reason:)``.
public enum NumPyFile {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // "\x93NUMPY"

    /// Reads the `.npy` file at `path` into a tensor.
    public static func read(path: String) throws -> Tensor {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw InferenceError.numpyFile(path: path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        return try decode(bytes, path: path)
    }

    /// Decodes the bytes of a `.npy` file; `path` only names the source in errors.
    public static func decode(_ bytes: Data, path: String) throws -> Tensor {
        let raw = [UInt8](bytes)
        func fail(_ reason: String) -> InferenceError { .numpyFile(path: path, reason: reason) }
        guard raw.count >= 10, Array(raw[0..<6]) == magic else { throw fail("not a .npy file (no \\x93NUMPY magic)") }
        let major = raw[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(raw[8]) | Int(raw[9]) << 8
            headerStart = 10
        case 2, 3:
            guard raw.count >= 12 else { throw fail("truncated header") }
            headerLength = Int(raw[8]) | Int(raw[9]) << 8 | Int(raw[10]) << 16 | Int(raw[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major)")
        }
        guard headerStart + headerLength <= raw.count else { throw fail("truncated header") }
        guard let header = String(bytes: raw[headerStart..<(headerStart + headerLength)], encoding: .ascii) else {
            throw fail("header is not ASCII")
        }
        guard let descr = value(of: "descr", in: header) else { throw fail("header has no 'descr'") }
        let typeCode = descr.trimmingCharacters(in: CharacterSet(charactersIn: "'\" "))
        guard typeCode == "<f4" || typeCode == "=f4" else {
            throw fail("element type '\(typeCode)' is not supported; save the array as little-endian float32 (np.float32, '<f4')")
        }
        guard let fortran = value(of: "fortran_order", in: header) else { throw fail("header has no 'fortran_order'") }
        guard fortran.trimmingCharacters(in: .whitespaces) == "False" else {
            throw fail("Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        guard let shapeText = value(of: "shape", in: header) else { throw fail("header has no 'shape'") }
        let inner = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "() "))
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let extent = Int(trimmed), extent >= 0 else { throw fail("invalid shape '\(shapeText)'") }
            shape.append(extent)
        }
        let count = shape.reduce(1, *)
        let dataStart = headerStart + headerLength
        guard raw.count - dataStart == count * 4 else {
            throw fail("expected \(count * 4) data bytes for shape \(shape), found \(raw.count - dataStart)")
        }
        var data = [Float](repeating: 0, count: count)
        data.withUnsafeMutableBytes { destination in
            raw.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[dataStart...]))
            }
        }
        #if _endian(big)
        data = data.map { Float(bitPattern: $0.bitPattern.byteSwapped) }
        #endif
        return Tensor(shape: shape, data: data)
    }

    /// Encodes a tensor as `.npy` (format 1.0, '<f4', C order).
    public static func encode(_ tensor: Tensor) -> Data {
        let shapeText: String
        switch tensor.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(tensor.shape[0]),)"
        default: shapeText = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        var out = Data(bytes)
        tensor.data.withUnsafeBytes { out.append(contentsOf: $0) }
        return out
    }

    /// Writes `tensor` to `path` as `.npy`, atomically (no half-written file on failure).
    public static func write(_ tensor: Tensor, to path: String) throws {
        do {
            try encode(tensor).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw InferenceError.numpyFile(path: path, reason: "cannot write the file (\(error.localizedDescription))")
        }
    }

    /// The text after `'key':` up to the next top-level comma (or the tuple's closing parenthesis).
    private static func value(of key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        var rest = header[keyRange.upperBound...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        var depth = 0
        var result = ""
        for character in rest {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1; if depth == 0 { result.append(character); break } }
            if (character == "," || character == "}") && depth == 0 { break }
            result.append(character)
        }
        return result
    }
}
