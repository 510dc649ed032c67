import HemoCore
import HemoScheduler

extension WireMessage {
    /// Encodes the message as ZeroMQ frames: `[HEMO+version, type, fields, blobs…]`.
    /// - Throws: ``WireError`` when a field breaks a limit (the same checks the decoder makes),
    ///   so whatever encodes also decodes.
    public func encode() throws(WireError) -> [[UInt8]] {
        var fields = WireWriter()
        var blobs: [[UInt8]] = []
        switch self {
        case .ready(let m): try m.encode(into: &fields)
        case .job(let m): try m.encode(into: &fields, blobs: &blobs)
        case .heartbeat, .statusRequest: break
        case .chunk(let m): try m.encode(into: &fields, blobs: &blobs)
        case .done(let m): try m.encode(into: &fields, blobs: &blobs)
        case .failed(let m): try m.encode(into: &fields)
        case .disconnect(let reason):
            try fields.string(reason, max: WireProtocol.maxReasonBytes, field: "DISCONNECT.reason")
        case .statusReply(let m): try m.encode(into: &fields)
        case .cancel(let m):
            try FieldRules.writeCase(m.exam, &fields, field: "CANCEL.exam")
            fields.u32(m.attempt)
            try fields.string(m.reason, max: WireProtocol.maxReasonBytes, field: "CANCEL.reason")
        case .file(let m): try m.encode(into: &fields, blobs: &blobs)
        }
        try checkLength(fields.bytes.count, max: WireProtocol.maxFieldsBytes, field: "\(type).fields")
        return [WireProtocol.header, [type.rawValue], fields.bytes] + blobs
    }

    /// Decodes frames produced by ``encode()`` (without any routing envelope).
    ///
    /// Every count and length is checked against ``WireProtocol`` limits before it is used; every
    /// value is validated; nothing traps. Blob frames are copied, not decompressed.
    /// - Throws: ``WireError`` naming the field.
    public static func decode(_ frames: [[UInt8]]) throws(WireError) -> WireMessage {
        guard frames.count >= 3, frames.count <= WireProtocol.maxFrames else {
            throw WireError(field: "message", reason: .wrongFrameCount(expected: "3...\(WireProtocol.maxFrames)", actual: frames.count))
        }
        var total = 0
        for frame in frames {
            try checkLength(frame.count, max: WireProtocol.maxBlobBytes, field: "message.frame")
            total += frame.count
        }
        try checkLength(total, max: WireProtocol.maxMessageBytes, field: "message")
        let header = frames[0]
        guard header.count == 5, Array(header.prefix(4)) == WireProtocol.magic else {
            throw WireError(field: "header", reason: .notHemoProtocol)
        }
        guard header[4] == WireProtocol.version else { throw WireError(field: "header", reason: .unsupportedVersion(header[4])) }
        guard frames[1].count == 1 else {
            throw WireError(field: "type", reason: .invalidValue("the type frame has \(frames[1].count) bytes, expected 1"))
        }
        guard let type = MessageType(rawValue: frames[1][0]) else {
            throw WireError(field: "type", reason: .unknownMessageType(frames[1][0]))
        }
        try checkLength(frames[2].count, max: WireProtocol.maxFieldsBytes, field: "\(type).fields")
        var reader = WireReader(frames[2])
        let blobs = Array(frames.dropFirst(3))
        func expectBlobs(_ n: Int) throws(WireError) {
            guard blobs.count == n else {
                throw WireError(field: "\(type)", reason: .wrongFrameCount(expected: "\(3 + n)", actual: frames.count))
            }
        }
        let message: WireMessage
        switch type {
        case .ready:
            try expectBlobs(0)
            message = .ready(try ReadyMessage.decode(&reader))
        case .job:
            message = .job(try JobMessage.decode(&reader, blobs: blobs))
        case .heartbeat:
            try expectBlobs(0)
            message = .heartbeat
        case .chunk:
            try expectBlobs(1)
            message = .chunk(try Chunk.decode(&reader, payload: blobs[0]))
        case .done:
            try expectBlobs(1)
            message = .done(try DoneMessage.decode(&reader, summary: blobs[0]))
        case .failed:
            try expectBlobs(0)
            message = .failed(try FailedMessage.decode(&reader))
        case .disconnect:
            try expectBlobs(0)
            message = .disconnect(reason: try reader.string("DISCONNECT.reason", max: WireProtocol.maxReasonBytes))
        case .statusRequest:
            try expectBlobs(0)
            message = .statusRequest
        case .statusReply:
            try expectBlobs(0)
            message = .statusReply(try StatusReply.decode(&reader))
        case .cancel:
            try expectBlobs(0)
            let exam = try FieldRules.readCase(&reader, field: "CANCEL.exam")
            let attempt = try reader.u32("CANCEL.attempt")
            let reason = try reader.string("CANCEL.reason", max: WireProtocol.maxReasonBytes)
            message = .cancel(CancelMessage(exam: exam, attempt: attempt, reason: reason))
        case .file:
            try expectBlobs(1)
            message = .file(try FilePart.decode(&reader, payload: blobs[0]))
        }
        try reader.finish("\(type).fields")
        return message
    }
}

// MARK: - Shared field rules

enum FieldRules {
    /// `[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}`.
    static func checkWorkerID(_ id: String, field: String) throws(WireError) {
        let bytes = Array(id.utf8)
        try checkLength(bytes.count, max: WireProtocol.maxWorkerIDBytes, field: field)
        func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
        guard let first = bytes.first, alnum(first),
              bytes.allSatisfy({ alnum($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x3A || $0 == 0x40 || $0 == 0x2D }) else {
            throw WireError(field: field, reason: .invalidValue("worker id must match [A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}"))
        }
    }

    static func checkNonEmpty(_ text: String, max: Int, field: String) throws(WireError) {
        guard !text.isEmpty else { throw WireError(field: field, reason: .invalidValue("must not be empty")) }
        try checkLength(text.utf8.count, max: max, field: field)
    }

    static func checkRange(_ value: Int, _ range: ClosedRange<Int>, field: String) throws(WireError) {
        guard range.contains(value) else {
            throw WireError(field: field, reason: .invalidValue("\(value) is outside \(range.lowerBound)...\(range.upperBound)"))
        }
    }

    static func readCase(_ reader: inout WireReader, field: String) throws(WireError) -> CaseID {
        let text = try reader.string(field, max: 64)
        guard let id = CaseID(text) else {
            throw WireError(field: field, reason: .invalidValue("case identifier must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"))
        }
        return id
    }

    static func writeCase(_ id: CaseID, _ writer: inout WireWriter, field: String) throws(WireError) {
        try writer.string(id.rawValue, max: 64, field: field)
    }

    static func writeGeometry(_ g: Geometry, _ w: inout WireWriter, field: String) throws(WireError) {
        try checkGeometry(size: [g.size.i, g.size.j, g.size.k], spacing: [g.spacing.x, g.spacing.y, g.spacing.z],
                          affine: g.affine.rowMajor, codes: [g.qformCode, g.sformCode], field: field)
        for n in [g.size.i, g.size.j, g.size.k] { w.u32(UInt32(n)) }
        for s in [g.spacing.x, g.spacing.y, g.spacing.z] { w.f64(s) }
        for a in g.affine.rowMajor { w.f64(a) }
        w.i16(Int16(g.qformCode))
        w.i16(Int16(g.sformCode))
    }

    static func readGeometry(_ r: inout WireReader, field: String) throws(WireError) -> Geometry {
        var size: [Int] = []
        for axis in ["i", "j", "k"] { size.append(Int(try r.u32("\(field).size.\(axis)"))) }
        var spacing: [Double] = []
        for _ in 0..<3 { spacing.append(try r.f64("\(field).spacing")) }
        var affine: [Double] = []
        for _ in 0..<16 { affine.append(try r.f64("\(field).affine")) }
        let codes = [Int(try r.i16("\(field).qformCode")), Int(try r.i16("\(field).sformCode"))]
        try checkGeometry(size: size, spacing: spacing, affine: affine, codes: codes, field: field)
        return Geometry(size: GridSize(size[0], size[1], size[2]), spacing: SIMD3(spacing[0], spacing[1], spacing[2]),
                        affine: Affine(rowMajor: affine), qformCode: codes[0], sformCode: codes[1])
    }

    static func checkGeometry(size: [Int], spacing: [Double], affine: [Double], codes: [Int], field: String) throws(WireError) {
        for (axis, n) in zip(["i", "j", "k"], size) {
            try checkRange(n, 1...WireProtocol.maxGridEdge, field: "\(field).size.\(axis)")
        }
        let voxels = size.reduce(1, *) // each ≤ 4096, so ≤ 2^36: no overflow
        try checkLength(voxels, max: WireProtocol.maxVolumeVoxels, field: "\(field).size")
        guard spacing.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw WireError(field: "\(field).spacing", reason: .invalidValue("spacing must be finite and positive"))
        }
        guard affine.count == 16, affine.allSatisfy({ $0.isFinite }) else {
            throw WireError(field: "\(field).affine", reason: .invalidValue("affine must have 16 finite entries"))
        }
        guard Array(affine[12..<16]) == [0, 0, 0, 1] else {
            throw WireError(field: "\(field).affine", reason: .invalidValue("affine's last row must be 0 0 0 1"))
        }
        for (name, code) in zip(["qformCode", "sformCode"], codes) {
            try checkRange(code, 0...5, field: "\(field).\(name)")
        }
    }
}

// MARK: - Per-message fields

extension ReadyMessage {
    func encode(into w: inout WireWriter) throws(WireError) {
        try FieldRules.checkWorkerID(workerID, field: "READY.workerID")
        try FieldRules.checkRange(capacity, 1...WireProtocol.maxCapacity, field: "READY.capacity")
        try FieldRules.checkRange(threads, 1...WireProtocol.maxCapacity, field: "READY.threads")
        guard WorkerCapabilities.known.isSuperset(of: capabilities) else {
            throw WireError(field: "READY.capabilities", reason: .invalidValue("unknown capability bits \(capabilities.rawValue)"))
        }
        try w.string(workerID, max: WireProtocol.maxWorkerIDBytes, field: "READY.workerID")
        try w.string(workerName, max: WireProtocol.maxNameBytes, field: "READY.workerName")
        w.u16(UInt16(capacity))
        w.u16(UInt16(threads))
        w.u32(capabilities.rawValue)
        try w.string(softwareVersion, max: WireProtocol.maxNameBytes, field: "READY.softwareVersion")
        guard models.count <= WireProtocol.maxReadyModels else {
            throw WireError(field: "READY.models", reason: .invalidValue("\(models.count) models, at most \(WireProtocol.maxReadyModels)"))
        }
        w.u8(UInt8(models.count))
        for m in models {
            guard m.onnxSHA256.count == 32, m.sidecarSHA256.count == 32 else {
                throw WireError(field: "READY.models", reason: .invalidValue("a digest is not 32 bytes"))
            }
            w.raw(m.onnxSHA256)
            w.raw(m.sidecarSHA256)
        }
        guard held.count <= WireProtocol.maxHeldAttempts else {
            throw WireError(field: "READY.held", reason: .invalidValue("\(held.count) attempts, at most \(WireProtocol.maxHeldAttempts)"))
        }
        w.u16(UInt16(held.count))
        for h in held {
            try FieldRules.writeCase(h.exam, &w, field: "READY.held.exam")
            w.u32(h.attempt)
        }
    }

    static func decode(_ r: inout WireReader) throws(WireError) -> ReadyMessage {
        let id = try r.string("READY.workerID", max: WireProtocol.maxWorkerIDBytes)
        try FieldRules.checkWorkerID(id, field: "READY.workerID")
        let name = try r.string("READY.workerName", max: WireProtocol.maxNameBytes)
        let capacity = Int(try r.u16("READY.capacity"))
        try FieldRules.checkRange(capacity, 1...WireProtocol.maxCapacity, field: "READY.capacity")
        let threads = Int(try r.u16("READY.threads"))
        try FieldRules.checkRange(threads, 1...WireProtocol.maxCapacity, field: "READY.threads")
        let capabilities = WorkerCapabilities(rawValue: try r.u32("READY.capabilities"))
        guard WorkerCapabilities.known.isSuperset(of: capabilities) else {
            throw WireError(field: "READY.capabilities", reason: .invalidValue("unknown capability bits \(capabilities.rawValue)"))
        }
        let version = try r.string("READY.softwareVersion", max: WireProtocol.maxNameBytes)
        let modelCount = Int(try r.u8("READY.models"))
        guard modelCount <= WireProtocol.maxReadyModels else {
            throw WireError(field: "READY.models", reason: .invalidValue("\(modelCount) models, at most \(WireProtocol.maxReadyModels)"))
        }
        var models: [ModelDigests] = []
        for _ in 0..<modelCount {
            models.append(ModelDigests(onnxSHA256: try r.raw(32, "READY.models.onnx"), sidecarSHA256: try r.raw(32, "READY.models.sidecar")))
        }
        let heldCount = Int(try r.u16("READY.held"))
        guard heldCount <= WireProtocol.maxHeldAttempts else {
            throw WireError(field: "READY.held", reason: .invalidValue("\(heldCount) attempts, at most \(WireProtocol.maxHeldAttempts)"))
        }
        var held: [HeldAttempt] = []
        for _ in 0..<heldCount {
            held.append(HeldAttempt(exam: try FieldRules.readCase(&r, field: "READY.held.exam"), attempt: try r.u32("READY.held.attempt")))
        }
        return ReadyMessage(workerID: id, workerName: name, capacity: capacity, threads: threads,
                     capabilities: capabilities, softwareVersion: version, models: models, held: held)
    }
}

extension JobMessage {
    static func checkFileName(_ name: String, field: String) throws(WireError) {
        try FieldRules.checkNonEmpty(name, max: 255, field: field)
        guard !name.contains("/"), name != ".", name != ".." else {
            throw WireError(field: field, reason: .invalidValue("file name must not contain '/' or be '.' or '..'"))
        }
    }

    func encode(into w: inout WireWriter, blobs: inout [[UInt8]]) throws(WireError) {
        w.u64(jobID)
        try FieldRules.writeCase(exam, &w, field: "JOB.exam")
        w.u32(attempt)
        switch kind {
        case .build:
            w.u8(1)
        case .infer(let sha):
            guard sha.count == 32 else {
                throw WireError(field: "JOB.kind.modelSHA256", reason: .invalidValue("a SHA-256 has 32 bytes, got \(sha.count)"))
            }
            w.u8(2)
            for b in sha { w.u8(b) }
        }
        try w.blob(options, max: WireProtocol.maxOptionsBytes, field: "JOB.options")
        switch inputs {
        case .paths(let paths):
            try checkLength(paths.count, max: WireProtocol.maxPaths, field: "JOB.inputs.paths")
            w.u8(1)
            w.u32(UInt32(paths.count))
            for path in paths {
                try FieldRules.checkNonEmpty(path, max: WireProtocol.maxPathBytes, field: "JOB.inputs.path")
                try w.string(path, max: WireProtocol.maxPathBytes, field: "JOB.inputs.path")
            }
        case .inline(let files):
            try checkLength(files.count, max: WireProtocol.maxInlineFiles, field: "JOB.inputs.inline")
            w.u8(2)
            w.u32(UInt32(files.count))
            for file in files {
                try Self.checkFileName(file.name, field: "JOB.inputs.inline.name")
                try FieldRules.checkRange(file.size, 0...WireProtocol.maxInlineFileBytes, field: "JOB.inputs.inline.size")
                try checkLength(file.lz4Frame.count, max: WireProtocol.maxBlobBytes, field: "JOB.inputs.inline.lz4Frame")
                try w.string(file.name, max: 255, field: "JOB.inputs.inline.name")
                w.u64(UInt64(file.size))
                blobs.append(file.lz4Frame)
            }
        }
    }

    static func decode(_ r: inout WireReader, blobs: [[UInt8]]) throws(WireError) -> JobMessage {
        let jobID = try r.u64("JOB.jobID")
        let exam = try FieldRules.readCase(&r, field: "JOB.exam")
        let attempt = try r.u32("JOB.attempt")
        let kind: JobKind
        switch try r.u8("JOB.kind") {
        case 1: kind = .build
        case 2:
            var sha: [UInt8] = []
            for _ in 0..<32 { sha.append(try r.u8("JOB.kind.modelSHA256")) }
            kind = .infer(modelSHA256: sha)
        case let other: throw WireError(field: "JOB.kind", reason: .invalidValue("unknown job kind \(other)"))
        }
        let options = try r.blob("JOB.options", max: WireProtocol.maxOptionsBytes)
        let inputs: JobInputs
        switch try r.u8("JOB.inputs") {
        case 1:
            let count = Int(try r.u32("JOB.inputs.paths"))
            try checkLength(count, max: WireProtocol.maxPaths, field: "JOB.inputs.paths")
            var paths: [String] = []
            for _ in 0..<count {
                let path = try r.string("JOB.inputs.path", max: WireProtocol.maxPathBytes)
                try FieldRules.checkNonEmpty(path, max: WireProtocol.maxPathBytes, field: "JOB.inputs.path")
                paths.append(path)
            }
            guard blobs.isEmpty else {
                throw WireError(field: "JOB", reason: .wrongFrameCount(expected: "3", actual: 3 + blobs.count))
            }
            inputs = .paths(paths)
        case 2:
            let count = Int(try r.u32("JOB.inputs.inline"))
            try checkLength(count, max: WireProtocol.maxInlineFiles, field: "JOB.inputs.inline")
            guard blobs.count == count else {
                throw WireError(field: "JOB", reason: .wrongFrameCount(expected: "\(3 + count)", actual: 3 + blobs.count))
            }
            var files: [InlineFile] = []
            for index in 0..<count {
                let name = try r.string("JOB.inputs.inline.name", max: 255)
                try checkFileName(name, field: "JOB.inputs.inline.name")
                let size = try r.u64("JOB.inputs.inline.size")
                guard size <= UInt64(WireProtocol.maxInlineFileBytes) else {
                    throw WireError(field: "JOB.inputs.inline.size",
                                    reason: .tooLarge(limit: WireProtocol.maxInlineFileBytes, actual: Int(clamping: size)))
                }
                files.append(InlineFile(name: name, size: Int(size), lz4Frame: blobs[index]))
            }
            inputs = .inline(files)
        case let other:
            throw WireError(field: "JOB.inputs", reason: .invalidValue("unknown inputs kind \(other)"))
        }
        return JobMessage(jobID: jobID, exam: exam, attempt: attempt, kind: kind, options: options, inputs: inputs)
    }
}

extension Chunk {
    func check() throws(WireError) {
        try FieldRules.checkRange(count, 1...geometry.size.k, field: "CHUNK.count")
        try FieldRules.checkRange(index, 0...(count - 1), field: "CHUNK.index")
        guard slices.lowerBound >= 0, slices.upperBound <= geometry.size.k, !slices.isEmpty else {
            throw WireError(field: "CHUNK.slices", reason: .invalidValue(
                "slab \(slices.lowerBound)..<\(slices.upperBound) is empty or outside 0..<\(geometry.size.k)"))
        }
        try checkLength(slabVoxels, max: WireProtocol.maxChunkVoxels, field: "CHUNK.slices")
        guard !payload.isEmpty else { throw WireError(field: "CHUNK.payload", reason: .invalidValue("empty payload")) }
        try checkLength(payload.count, max: WireProtocol.maxBlobBytes, field: "CHUNK.payload")
    }

    func encode(into w: inout WireWriter, blobs: inout [[UInt8]]) throws(WireError) {
        try FieldRules.writeCase(exam, &w, field: "CHUNK.exam")
        w.u32(attempt)
        try FieldRules.writeGeometry(geometry, &w, field: "CHUNK.geometry")
        try check()
        w.u32(UInt32(index))
        w.u32(UInt32(count))
        w.u32(UInt32(slices.lowerBound))
        w.u32(UInt32(slices.upperBound))
        w.u8(maskKind.code)
        blobs.append(payload)
    }

    static func decode(_ r: inout WireReader, payload: [UInt8]) throws(WireError) -> Chunk {
        let exam = try FieldRules.readCase(&r, field: "CHUNK.exam")
        let attempt = try r.u32("CHUNK.attempt")
        let geometry = try FieldRules.readGeometry(&r, field: "CHUNK.geometry")
        let index = Int(try r.u32("CHUNK.index"))
        let count = Int(try r.u32("CHUNK.count"))
        let k0 = Int(try r.u32("CHUNK.slices.k0"))
        let k1 = Int(try r.u32("CHUNK.slices.k1"))
        guard k0 < k1 else {
            throw WireError(field: "CHUNK.slices", reason: .invalidValue("slab \(k0)..<\(k1) is empty or reversed"))
        }
        let code = try r.u8("CHUNK.maskKind")
        guard let kind = MaskKind(code: code) else {
            throw WireError(field: "CHUNK.maskKind", reason: .invalidValue("unknown mask kind \(code)"))
        }
        let chunk = Chunk(exam: exam, attempt: attempt, index: index, count: count, slices: k0..<k1,
                          maskKind: kind, geometry: geometry, payload: payload)
        try chunk.check()
        return chunk
    }
}

extension FilePart {
    /// A release-relative path: 1...``WireProtocol/maxFilePathBytes`` bytes, `/`-separated
    /// components none of which is empty, `.` or `..` (so it cannot leave the release folder).
    static func checkPath(_ path: String, field: String) throws(WireError) {
        try FieldRules.checkNonEmpty(path, max: WireProtocol.maxFilePathBytes, field: field)
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw WireError(field: field, reason: .invalidValue("'\(path)' is not a plain relative path"))
        }
    }

    func check() throws(WireError) {
        try FieldRules.checkRange(fileCount, 1...WireProtocol.maxResultFiles, field: "FILE.fileCount")
        try FieldRules.checkRange(fileIndex, 0...(fileCount - 1), field: "FILE.fileIndex")
        try Self.checkPath(path, field: "FILE.path")
        try FieldRules.checkRange(size, 0...WireProtocol.maxResultFileBytes, field: "FILE.size")
        guard sha256.count == 32 else {
            throw WireError(field: "FILE.sha256", reason: .invalidValue("a SHA-256 has 32 bytes, got \(sha256.count)"))
        }
        let parts = WireProtocol.filePartCount(size: size)
        guard partCount == parts else {
            throw WireError(field: "FILE.partCount", reason: .invalidValue("a file of \(size) bytes travels in \(parts) parts, not \(partCount)"))
        }
        try FieldRules.checkRange(partIndex, 0...(partCount - 1), field: "FILE.partIndex")
        guard !payload.isEmpty else { throw WireError(field: "FILE.payload", reason: .invalidValue("empty payload")) }
        try checkLength(payload.count, max: WireProtocol.maxBlobBytes, field: "FILE.payload")
    }

    func encode(into w: inout WireWriter, blobs: inout [[UInt8]]) throws(WireError) {
        try check()
        try FieldRules.writeCase(exam, &w, field: "FILE.exam")
        w.u32(attempt)
        w.u32(UInt32(fileIndex))
        w.u32(UInt32(fileCount))
        try w.string(path, max: WireProtocol.maxFilePathBytes, field: "FILE.path")
        w.u64(UInt64(size))
        for b in sha256 { w.u8(b) }
        w.u32(UInt32(partIndex))
        w.u32(UInt32(partCount))
        blobs.append(payload)
    }

    static func decode(_ r: inout WireReader, payload: [UInt8]) throws(WireError) -> FilePart {
        let exam = try FieldRules.readCase(&r, field: "FILE.exam")
        let attempt = try r.u32("FILE.attempt")
        let fileIndex = Int(try r.u32("FILE.fileIndex"))
        let fileCount = Int(try r.u32("FILE.fileCount"))
        let path = try r.string("FILE.path", max: WireProtocol.maxFilePathBytes)
        let size = try r.u64("FILE.size")
        guard size <= UInt64(WireProtocol.maxResultFileBytes) else {
            throw WireError(field: "FILE.size", reason: .tooLarge(limit: WireProtocol.maxResultFileBytes, actual: Int(clamping: size)))
        }
        var sha: [UInt8] = []
        sha.reserveCapacity(32)
        for _ in 0..<32 { sha.append(try r.u8("FILE.sha256")) }
        let partIndex = Int(try r.u32("FILE.partIndex"))
        let partCount = Int(try r.u32("FILE.partCount"))
        let part = FilePart(exam: exam, attempt: attempt, fileIndex: fileIndex, fileCount: fileCount, path: path,
                            size: Int(size), sha256: sha, partIndex: partIndex, partCount: partCount, payload: payload)
        try part.check()
        return part
    }
}

extension DoneMessage {
    func encode(into w: inout WireWriter, blobs: inout [[UInt8]]) throws(WireError) {
        try FieldRules.writeCase(exam, &w, field: "DONE.exam")
        w.u32(attempt)
        try checkLength(timings.count, max: WireProtocol.maxTimings, field: "DONE.timings")
        try checkLength(summary.count, max: WireProtocol.maxSummaryBytes, field: "DONE.summary")
        w.u32(UInt32(timings.count))
        for timing in timings {
            try FieldRules.checkNonEmpty(timing.stage, max: WireProtocol.maxStageBytes, field: "DONE.timings.stage")
            try w.string(timing.stage, max: WireProtocol.maxStageBytes, field: "DONE.timings.stage")
            w.u64(timing.nanoseconds)
        }
        blobs.append(summary)
    }

    static func decode(_ r: inout WireReader, summary: [UInt8]) throws(WireError) -> DoneMessage {
        let exam = try FieldRules.readCase(&r, field: "DONE.exam")
        let attempt = try r.u32("DONE.attempt")
        let count = Int(try r.u32("DONE.timings"))
        try checkLength(count, max: WireProtocol.maxTimings, field: "DONE.timings")
        var timings: [StageTiming] = []
        for _ in 0..<count {
            let stage = try r.string("DONE.timings.stage", max: WireProtocol.maxStageBytes)
            try FieldRules.checkNonEmpty(stage, max: WireProtocol.maxStageBytes, field: "DONE.timings.stage")
            timings.append(StageTiming(stage: stage, nanoseconds: try r.u64("DONE.timings.nanoseconds")))
        }
        try checkLength(summary.count, max: WireProtocol.maxSummaryBytes, field: "DONE.summary")
        return DoneMessage(exam: exam, attempt: attempt, summary: summary, timings: timings)
    }
}

extension FailedMessage {
    func encode(into w: inout WireWriter) throws(WireError) {
        try FieldRules.writeCase(exam, &w, field: "FAILED.exam")
        w.u32(attempt)
        try FieldRules.checkNonEmpty(stage, max: WireProtocol.maxStageBytes, field: "FAILED.stage")
        try w.string(stage, max: WireProtocol.maxStageBytes, field: "FAILED.stage")
        try w.string(reason, max: WireProtocol.maxReasonBytes, field: "FAILED.reason")
    }

    static func decode(_ r: inout WireReader) throws(WireError) -> FailedMessage {
        let exam = try FieldRules.readCase(&r, field: "FAILED.exam")
        let attempt = try r.u32("FAILED.attempt")
        let stage = try r.string("FAILED.stage", max: WireProtocol.maxStageBytes)
        try FieldRules.checkNonEmpty(stage, max: WireProtocol.maxStageBytes, field: "FAILED.stage")
        let reason = try r.string("FAILED.reason", max: WireProtocol.maxReasonBytes)
        return FailedMessage(exam: exam, attempt: attempt, stage: stage, reason: reason)
    }
}

extension StatusReply {
    func encode(into w: inout WireWriter) throws(WireError) {
        for (name, n) in [("examsTotal", examsTotal), ("completed", completed), ("quarantined", quarantined),
                          ("running", running), ("pending", pending)] {
            try FieldRules.checkRange(n, 0...Int(UInt32.max), field: "STATUS-REPLY.\(name)")
            w.u32(UInt32(n))
        }
        for (name, x) in [("examsPerMinute", examsPerMinute), ("windowSeconds", windowSeconds), ("elapsedSeconds", elapsedSeconds)] {
            try Self.checkRate(x, field: "STATUS-REPLY.\(name)")
            w.f64(x)
        }
        try checkLength(workers.count, max: WireProtocol.maxStatusWorkers, field: "STATUS-REPLY.workers")
        w.u32(UInt32(workers.count))
        for worker in workers {
            try FieldRules.checkWorkerID(worker.workerID, field: "STATUS-REPLY.workers.workerID")
            try w.string(worker.workerID, max: WireProtocol.maxWorkerIDBytes, field: "STATUS-REPLY.workers.workerID")
            try w.string(worker.workerName, max: WireProtocol.maxNameBytes, field: "STATUS-REPLY.workers.workerName")
            try FieldRules.checkRange(worker.capacity, 0...Int(UInt16.max), field: "STATUS-REPLY.workers.capacity")
            try FieldRules.checkRange(worker.outstanding, 0...Int(UInt32.max), field: "STATUS-REPLY.workers.outstanding")
            w.u16(UInt16(worker.capacity))
            w.u32(UInt32(worker.outstanding))
            w.bool(worker.draining)
        }
    }

    static func decode(_ r: inout WireReader) throws(WireError) -> StatusReply {
        var counts: [Int] = []
        for name in ["examsTotal", "completed", "quarantined", "running", "pending"] {
            counts.append(Int(try r.u32("STATUS-REPLY.\(name)")))
        }
        var rates: [Double] = []
        for name in ["examsPerMinute", "windowSeconds", "elapsedSeconds"] {
            let x = try r.f64("STATUS-REPLY.\(name)")
            try checkRate(x, field: "STATUS-REPLY.\(name)")
            rates.append(x)
        }
        let count = Int(try r.u32("STATUS-REPLY.workers"))
        try checkLength(count, max: WireProtocol.maxStatusWorkers, field: "STATUS-REPLY.workers")
        var workers: [WorkerStatus] = []
        for _ in 0..<count {
            let id = try r.string("STATUS-REPLY.workers.workerID", max: WireProtocol.maxWorkerIDBytes)
            try FieldRules.checkWorkerID(id, field: "STATUS-REPLY.workers.workerID")
            let name = try r.string("STATUS-REPLY.workers.workerName", max: WireProtocol.maxNameBytes)
            let capacity = Int(try r.u16("STATUS-REPLY.workers.capacity"))
            let outstanding = Int(try r.u32("STATUS-REPLY.workers.outstanding"))
            let draining = try r.bool("STATUS-REPLY.workers.draining")
            workers.append(WorkerStatus(workerID: id, workerName: name, capacity: capacity,
                                        outstanding: outstanding, draining: draining))
        }
        return StatusReply(examsTotal: counts[0], completed: counts[1], quarantined: counts[2],
                           running: counts[3], pending: counts[4], examsPerMinute: rates[0], windowSeconds: rates[1],
                           elapsedSeconds: rates[2], workers: workers)
    }

    /// Rates and durations are finite and not negative.
    static func checkRate(_ x: Double, field: String) throws(WireError) {
        guard x.isFinite, x >= 0 else { throw WireError(field: field, reason: .invalidValue("\(x) is not a finite, non-negative number")) }
    }
}
