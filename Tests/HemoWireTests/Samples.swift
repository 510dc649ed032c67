import HemoCore
import LZ4
@testable import HemoWire


func caseID(_ text: String) -> CaseID { CaseID(text)! }

/// An oblique geometry so every affine entry matters.
func sampleGeometry(_ size: GridSize) -> Geometry {
    Geometry(size: size, spacing: SIMD3(0.45, 0.45, 5),
             affine: Affine(rowMajor: [-0.45, 0.01, 0, 110.5,
                                       0, 0.44, -0.3, -98.25,
                                       0, 0.05, 4.99, -60,
                                       0, 0, 0, 1]),
             qformCode: 1, sformCode: 2)
}

/// A label map with blobs of every label, deterministic for a seed.
func sampleLabelMap(_ size: GridSize, seed: UInt64) -> Volume<UInt8> {
    var rng = SplitMix64(seed: seed)
    var volume = Volume<UInt8>(geometry: sampleGeometry(size), repeating: 0)
    for _ in 0..<6 {
        let label = UInt8.random(in: 1...5, using: &rng)
        let ci = Int.random(in: 0..<size.i, using: &rng), cj = Int.random(in: 0..<size.j, using: &rng)
        let ck = Int.random(in: 0..<size.k, using: &rng)
        let r = Int.random(in: 1...4, using: &rng)
        for k in max(0, ck - r)..<min(size.k, ck + r) {
            for j in max(0, cj - r)..<min(size.j, cj + r) {
                for i in max(0, ci - r)..<min(size.i, ci + r) { volume[i, j, k] = label }
            }
        }
    }
    return volume
}

/// One valid message of every type (and both input forms of JOB).
func sampleMessages() throws -> [WireMessage] {
    let small = try LZ4Frame.compress(Array("hello dicom".utf8))
    let chunk = try MaskChunker(slicesPerChunk: 3).chunks(bitmask: sampleLabelMap(GridSize(6, 5, 7), seed: 1),
                                                          exam: caseID("CT-001"), attempt: 2)[1]
    return [
        .ready(ReadyMessage(workerID: "node-7.lab:1@a", workerName: "node-7 pid 4242", capacity: 4, threads: 8,
                     capabilities: [.build, .infer], softwareVersion: "0.1.0")),
        .ready(ReadyMessage(workerID: "rejoiner", workerName: "node-8", capacity: 2, threads: 2, capabilities: [.build, .infer],
                     softwareVersion: "0.2.0",
                     models: [ModelDigests(onnxSHA256: (0..<32).map { UInt8($0) }, sidecarSHA256: (0..<32).map { UInt8(255 - $0) })],
                     held: [HeldAttempt(exam: caseID("CT-001"), attempt: 2), HeldAttempt(exam: caseID("CT_002"), attempt: 7)])),
        .job(JobMessage(jobID: 99, exam: caseID("CT-001"), attempt: 1, kind: .build, options: Array(#"{"k":1}"#.utf8),
                 inputs: .paths(["/data/ct/CT-001.nii.gz", "/data/ann/CT-001.json"]))),
        .job(JobMessage(jobID: 100, exam: caseID("CT_002"), attempt: 3,
                 kind: .infer(modelSHA256: (0..<32).map { UInt8($0 * 7 % 256) }), options: [],
                 inputs: .inline([InlineFile(name: "ct.nii.gz", size: 11, lz4Frame: small),
                                  InlineFile(name: "mask.json", size: 11, lz4Frame: small)]))),
        .heartbeat,
        .chunk(chunk),
        .done(DoneMessage(exam: caseID("CT-001"), attempt: 2, summary: Array(#"{"any":1}"#.utf8),
                   timings: [StageTiming(stage: "read", nanoseconds: 12_000), StageTiming(stage: "infer", nanoseconds: 9)])),
        .failed(FailedMessage(exam: caseID("CT-003"), attempt: 1, stage: "read", reason: "CT-003.nii.gz: gzip stream truncated")),
        .disconnect(reason: "drain"),
        .cancel(CancelMessage(exam: caseID("CT-001"), attempt: 2, reason: "chunk 3: checksum mismatch")),
        .statusRequest,
        .file(try FileChunker().parts(of: [EncodedFile(path: "masks2d/CT-001/004.png", bytes: Array("png bytes".utf8))],
                                      exam: caseID("CT-001"), attempt: 2)[0]),
        .statusReply(StatusReply(examsTotal: 372, completed: 100, quarantined: 2, running: 8, pending: 262,
                                 examsPerMinute: 12.5, windowSeconds: 60, elapsedSeconds: 1234.5,
                                 workers: [WorkerStatus(workerID: "w1", workerName: "node-1", capacity: 4,
                                                        outstanding: 5, draining: false),
                                           WorkerStatus(workerID: "w2", workerName: "", capacity: 1,
                                                        outstanding: 0, draining: true)])),
    ]
}
