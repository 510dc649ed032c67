/// JPEG lossless (ITU T.81 process 14, Huffman, predictors 1–7, point transform, restart
/// intervals) for one grey-scale component, in pure Swift: DICOM's 1.2.840.10008.1.2.4.57 and
/// .4.70 (SV1, predictor 1). libjpeg-turbo 2.1 (Debian 12) has no lossless decoder.
enum LosslessJPEG {
    struct Failure: Error { var reason: String }

    /// Canonical Huffman table in the decoding form of T.81 F.2.2.3.
    struct Huffman {
        var maxCode = [Int](repeating: -1, count: 17)
        var valPtr = [Int](repeating: 0, count: 17)
        var minCode = [Int](repeating: 0, count: 17)
        var values: [UInt8] = []

        init(counts: [Int], values: [UInt8]) {
            self.values = values
            var code = 0, k = 0
            for l in 1...16 {
                valPtr[l] = k
                minCode[l] = code
                code += counts[l - 1]
                k += counts[l - 1]
                maxCode[l] = counts[l - 1] > 0 ? code - 1 : -1
                code <<= 1
            }
        }
    }

    /// Bit reader over entropy-coded data: skips stuffed zero bytes, stops at markers.
    struct Bits {
        let b: [UInt8]
        var p: Int
        var acc: UInt32 = 0, n = 0
        var marker = false

        mutating func bit() throws -> Int {
            if n == 0 {
                var v: UInt8 = 0
                if !marker && p < b.count {
                    v = b[p]
                    if v == 0xFF {
                        let next = p + 1 < b.count ? b[p + 1] : 0
                        if next == 0 { p += 2 } else { marker = true; v = 0 }
                    } else { p += 1 }
                } else if !marker {
                    throw Failure(reason: "entropy-coded data ends early")
                }
                acc = UInt32(v); n = 8
            }
            n -= 1
            return Int((acc >> UInt32(n)) & 1)
        }

        mutating func bits(_ count: Int) throws -> Int {
            var v = 0
            for _ in 0..<count { v = (v << 1) | (try bit()) }
            return v
        }

        /// Skips to just after the next RSTn marker.
        mutating func restart() throws {
            n = 0; marker = false
            while p + 1 < b.count && !(b[p] == 0xFF && (0xD0...0xD7).contains(b[p + 1])) { p += 1 }
            guard p + 1 < b.count else { throw Failure(reason: "a restart marker is missing") }
            p += 2
        }
    }

    static func decode(_ data: [UInt8], format f: PixelFormat) throws -> [Int32] {
        var p = 0
        func u16(_ o: Int) throws -> Int {
            guard o + 1 < data.count else { throw Failure(reason: "truncated marker segment") }
            return Int(data[o]) << 8 | Int(data[o + 1])
        }
        guard data.count >= 4, data[0] == 0xFF, data[1] == 0xD8 else { throw Failure(reason: "no SOI marker") }
        p = 2
        var tables: [Int: Huffman] = [:]
        var precision = 0, width = 0, height = 0, restartInterval = 0
        var sof = false
        while true {
            while p < data.count && data[p] != 0xFF { p += 1 }
            while p < data.count && data[p] == 0xFF { p += 1 }
            guard p < data.count else { throw Failure(reason: "no SOS marker") }
            let marker = data[p]; p += 1
            if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { continue }
            if marker == 0xD9 { throw Failure(reason: "EOI before any scan") }
            let len = try u16(p)
            guard len >= 2, p + len <= data.count else { throw Failure(reason: "marker segment length \(len) overruns the data") }
            let seg = p + 2, end = p + len
            switch marker {
            case 0xC3:
                guard len >= 11 else { throw Failure(reason: "short SOF3") }
                precision = Int(data[seg]); height = try u16(seg + 1); width = try u16(seg + 3)
                guard data[seg + 5] == 1 else { throw Failure(reason: "\(data[seg + 5]) components; only 1 is supported") }
                sof = true
            case 0xC0, 0xC1, 0xC2, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
                throw Failure(reason: "not a lossless (SOF3) JPEG: SOF marker FF\(String(marker, radix: 16, uppercase: true))")
            case 0xC4:
                var q = seg
                while q < end {
                    guard q + 17 <= end else { throw Failure(reason: "short DHT") }
                    let id = Int(data[q] & 0x0F) | (Int(data[q] >> 4) << 4)
                    let counts = (0..<16).map { Int(data[q + 1 + $0]) }
                    let total = counts.reduce(0, +)
                    guard q + 17 + total <= end else { throw Failure(reason: "DHT values overrun the segment") }
                    tables[id] = Huffman(counts: counts, values: Array(data[(q + 17)..<(q + 17 + total)]))
                    q += 17 + total
                }
            case 0xDD:
                restartInterval = try u16(seg)
            case 0xDA:
                guard sof else { throw Failure(reason: "SOS before SOF3") }
                guard data[seg] == 1, len >= 8 else { throw Failure(reason: "scan with \(data[seg]) components") }
                let table = Int(data[seg + 2] >> 4)
                let predictor = Int(data[seg + 3])
                let pt = Int(data[seg + 5] & 0x0F)
                guard let huff = tables[table] else { throw Failure(reason: "scan uses undefined Huffman table \(table)") }
                guard (1...7).contains(predictor) else { throw Failure(reason: "predictor \(predictor) is not 1...7") }
                guard width == f.columns, height == f.rows else {
                    throw Failure(reason: "JPEG image is \(width)×\(height), the header says \(f.columns)×\(f.rows)")
                }
                guard (2...16).contains(precision), pt < precision else { throw Failure(reason: "precision \(precision), point transform \(pt)") }
                return try scan(data, from: end, huffman: huff, width: width, height: height, precision: precision,
                                predictor: predictor, pt: pt, restartInterval: restartInterval)
            default:
                break
            }
            p = end
        }
    }

    static func scan(_ data: [UInt8], from start: Int, huffman h: Huffman, width: Int, height: Int, precision: Int,
                     predictor: Int, pt: Int, restartInterval: Int) throws -> [Int32] {
        var bits = Bits(b: data, p: start)
        var out = [Int32](repeating: 0, count: width * height)
        let mask = (1 << precision) - 1
        let initial = 1 << (precision - pt - 1)
        var sinceRestart = 0
        var restartRow = 0, restartCol = 0 // where the current interval began
        func diff() throws -> Int {
            var code = try bits.bit(), l = 1
            while l <= 16 && (h.maxCode[l] < 0 || code > h.maxCode[l]) {
                code = (code << 1) | (try bits.bit()); l += 1
            }
            guard l <= 16 else { throw Failure(reason: "invalid Huffman code") }
            let idx = h.valPtr[l] + code - h.minCode[l]
            guard idx >= 0, idx < h.values.count else { throw Failure(reason: "invalid Huffman code") }
            let s = Int(h.values[idx])
            if s == 0 { return 0 }
            if s == 16 { return 32768 }
            guard s < 16 else { throw Failure(reason: "difference category \(s)") }
            let v = try bits.bits(s)
            return v < (1 << (s - 1)) ? v - (1 << s) + 1 : v
        }
        for y in 0..<height {
            for x in 0..<width {
                if restartInterval > 0 && sinceRestart == restartInterval {
                    try bits.restart()
                    sinceRestart = 0
                    restartRow = y; restartCol = x
                }
                let i = y * width + x
                let pred: Int
                let firstOfInterval = y == restartRow && x == restartCol
                if (y == 0 && x == 0) || firstOfInterval {
                    pred = initial
                } else if y == 0 || (y == restartRow && x > restartCol) {
                    pred = Int(out[i - 1])
                } else if x == 0 {
                    pred = Int(out[i - width])
                } else {
                    let ra = Int(out[i - 1]), rb = Int(out[i - width]), rc = Int(out[i - width - 1])
                    switch predictor {
                    case 1: pred = ra
                    case 2: pred = rb
                    case 3: pred = rc
                    case 4: pred = ra + rb - rc
                    case 5: pred = ra + ((rb - rc) >> 1)
                    case 6: pred = rb + ((ra - rc) >> 1)
                    default: pred = (ra + rb) >> 1
                    }
                }
                out[i] = Int32((pred + (try diff())) & mask)
                sinceRestart += 1
            }
        }
        return pt == 0 ? out : out.map { $0 << Int32(pt) }
    }
}
