import Foundation
import Testing
@testable import HemoInference

@Suite("NumPy .npy files")
struct NumPyFileTests {
    @Test(arguments: [[Int](), [5], [2, 3], [1, 2, 3, 4]])
    func roundTripsFloat32(shape: [Int]) throws {
        let count = shape.reduce(1, *)
        let tensor = Tensor(shape: shape, data: (0..<count).map { Float($0) * 0.5 - 3 })
        let path = Fixtures.temporaryPath(".npy")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NumPyFile.write(tensor, to: path)
        #expect(try NumPyFile.read(path: path) == tensor)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect((bytes.count - count * 4) % 64 == 0, "header padded to 64 bytes")
    }

    @Test func readsFilesWrittenByNumPy() throws {
        let tensor = try NumPyFile.read(path: Fixtures.path("odd_sizes.0.input.npy"))
        #expect(tensor.shape == [1, 3, 37, 29])
        #expect(tensor.data.contains { $0 != 0 })
    }

    static func header(_ dictionary: String) -> Data {
        var text = dictionary
        while (10 + text.utf8.count + 1) % 64 != 0 { text += " " }
        text += "\n"
        return Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(text.utf8.count), 0]) + Data(text.utf8)
    }

    @Test(arguments: [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16, "'<f8'"),
        ("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, "'>f4'"),
        ("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, "Fortran"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, "expected 12 data bytes"),
    ])
    func rejectsOtherLayoutsWithAClearError(header: String, dataBytes: Int, expected: String) {
        let data = Self.header(header) + Data(count: dataBytes)
        let error = catchError { try NumPyFile.decode(data, path: "x.npy") }
        guard case .numpyFile(let path, let reason)? = error else {
            Issue.record("expected numpyFile error, got \(String(describing: error))")
            return
        }
        #expect(path == "x.npy")
        #expect(reason.contains(expected.replacingOccurrences(of: "'", with: "")) || reason.contains(expected), "\(reason)")
    }

    @Test func rejectsNonNumPyBytes() {
        #expect(throws: InferenceError.numpyFile(path: "y.npy", reason: "not a .npy file (no \\x93NUMPY magic)")) {
            try NumPyFile.decode(Data("hello world".utf8), path: "y.npy")
        }
    }
}
