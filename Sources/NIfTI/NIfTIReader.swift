import HemoCore

/// Reading: header validation before any allocation, then one streaming pass over the voxels.
///
/// libnifti's own data reader replaces NaN and infinite floats with 0; nibabel keeps them. To
/// agree with nibabel this module reads the voxel block itself (through zlib) after validating
/// the header, so non-finite floats survive.
enum NIfTIReader {
    /// Bytes of raw voxels converted per step when scaling while reading.
    static let chunkBytes = 1 << 20
    /// deflate never compresses better than about 1032:1, so a gzip file of `n` bytes holds at
    /// most this many times `n` bytes of content (plus a little slack for tiny files).
    static let maximumDeflateRatio = 1032

    /// Reads and validates the header from a fresh `stream` (of the file or bytes `path` names),
    /// checks the sizes it declares against the input's size, and leaves the stream after the header.
    static func open(_ stream: GzipReadStream, path: String, options: NIfTIReadOptions) throws(NIfTIError) -> NIfTIHeader {
        _ = libniftiSilenced
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: NIfTIVersion.nifti2.headerSize, alignment: 8)
        defer { buffer.deallocate() }
        let got: Int
        do throws(StreamReadFailure) {
            got = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<4]))
        } catch {
            throw mapFailure(error, path: path, part: "header")
        }
        if got < 4 {
            throw NIfTIError(.truncatedHeader, path: path,
                             reason: got == 0
                                 ? (stream.isCompressed ? "the gzip stream ends before any content; the file is truncated" : "the file is empty")
                                 : "the file holds only \(got) bytes, too short for a NIfTI header")
        }
        guard let (version, byteOrder) = HeaderParser.detect(Array(buffer[0..<4])) else {
            throw NIfTIError(.badMagic, path: path, reason: "the first four bytes (sizeof_hdr) are neither 348 (NIfTI-1) nor 540 (NIfTI-2) in either byte order: not a NIfTI file")
        }
        do throws(StreamReadFailure) {
            try stream.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: buffer[4..<version.headerSize]))
        } catch {
            if case .endOfFile(let n) = error {
                throw NIfTIError(.truncatedHeader, path: path,
                                 reason: "the file ends after \(n + 4) bytes, inside the \(version.headerSize)-byte NIfTI-\(version.rawValue) header")
            }
            throw mapFailure(error, path: path, part: "header")
        }
        let bytes = Array(buffer[0..<version.headerSize])
        let raw = HeaderParser.decode(bytes, version: version, byteOrder: byteOrder)
        var header = try HeaderParser.validate(raw, path: path, maxVoxels: options.maxVoxels)
        header.isCompressed = stream.isCompressed

        // Size checks that need no decompression, before anything large is allocated.
        let needed = header.voxOffset + header.dataByteCount
        if !header.isCompressed {
            if header.voxOffset > stream.fileSize {
                throw NIfTIError(.voxOffsetPastEnd, path: path,
                                 reason: "vox_offset \(header.voxOffset) is past the end of the \(stream.fileSize)-byte file")
            }
            if needed > stream.fileSize {
                throw NIfTIError(.truncatedData, path: path,
                                 reason: "the file has \(stream.fileSize) bytes but its header needs \(needed) (\(header.dataByteCount) bytes of voxels from offset \(header.voxOffset))")
            }
        } else if needed / maximumDeflateRatio > stream.fileSize + 1024 {
            throw NIfTIError(.truncatedData, path: path,
                             reason: "a \(stream.fileSize)-byte gzip file cannot hold the \(needed) bytes its header declares; the file is truncated or the header is wrong")
        }
        return header
    }

    /// The most bytes of header extensions kept; larger extension blocks are skipped unread.
    static let maximumExtensionBytes = 16 << 20

    /// Reads the header extensions up to `vox_offset` into `header.extensions` (skips them when
    /// they exceed ``maximumExtensionBytes``).
    static func skipToVoxels(_ stream: GzipReadStream, header: inout NIfTIHeader, path: String) throws(NIfTIError) {
        stream.decodeRemainingAtOnce(contentSize: header.voxOffset + header.dataByteCount)
        do throws(StreamReadFailure) {
            let remaining = header.voxOffset - stream.position
            if remaining >= 8 && remaining <= maximumExtensionBytes {
                let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: remaining, alignment: 8)
                defer { raw.deallocate() }
                try stream.readExactly(into: raw)
                header.extensions = NIfTIExtension.decode(Array(raw), byteOrder: header.byteOrder)
            } else {
                try stream.skip(remaining)
            }
        } catch {
            if case .endOfFile = error {
                throw NIfTIError(.voxOffsetPastEnd, path: path,
                                 reason: "vox_offset \(header.voxOffset) is past the end of the decompressed content")
            }
            throw mapFailure(error, path: path, part: "header extensions")
        }
    }

    /// After the voxels: for gzip files, reads on to the trailer so zlib verifies the CRC-32.
    static func finish(_ stream: GzipReadStream, header: NIfTIHeader, path: String) throws(NIfTIError) {
        guard header.isCompressed else { return }
        do throws(StreamReadFailure) { try stream.checkEnd() } catch { throw mapFailure(error, path: path, part: "gzip trailer") }
    }

    static func mapFailure(_ failure: StreamReadFailure, path: String, part: String) -> NIfTIError {
        switch failure {
        case .endOfFile(let n):
            return NIfTIError(.truncatedData, path: path, reason: "the file ends early, after \(n) bytes of content, in the \(part)")
        case .corrupt(let message):
            return NIfTIError(.corruptCompression, path: path, reason: "the gzip data is corrupt in the \(part) (\(message)); the file is damaged")
        case .io(let message):
            return NIfTIError(.unreadable, path: path, reason: "reading the \(part) failed: \(message)")
        }
    }

    // MARK: Voxels

    /// Reads all voxels as stored (native byte order).
    static func readStored<T: VoxelScalar>(_ stream: GzipReadStream, header: NIfTIHeader, path: String,
                                           as: T.Type) throws(NIfTIError) -> [T] {
        let count = header.voxelCount
        var failure: StreamReadFailure?
        let voxels = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            do {
                try stream.readExactly(into: raw)
                if needsSwap(header) { byteSwap(raw, width: MemoryLayout<T>.size) }
                initialized = count
            } catch let error as StreamReadFailure {
                failure = error
            } catch {
                failure = .io("\(error)")
            }
        }
        if let failure { throw voxelFailure(failure, header: header, path: path) }
        return voxels
    }

    /// Reads all voxels converted to `Out` with `scaling` applied, one chunk at a time, so the
    /// only large allocation is the output.
    ///
    /// Arithmetic as nibabel's `get_fdata(dtype=Out)`: without scaling a plain conversion; with
    /// scaling, in `Double` (nibabel keeps the scale factors as float64), multiplying only when
    /// the slope is not 1 and adding only when the intercept is not 0, then rounding to `Out`.
    static func readScaled<Out: BinaryFloatingPoint>(_ stream: GzipReadStream, header: NIfTIHeader, path: String,
                                                     as: Out.Type) throws(NIfTIError) -> [Out] {
        let scaling = header.scaling.flatMap { $0.isIdentity ? nil : $0 }
        switch header.voxelType {
        case .uint8: return try convertStream(stream, header, path, UInt8.self, Out.self, scaling)
        case .int16: return try convertStream(stream, header, path, Int16.self, Out.self, scaling)
        case .uint16: return try convertStream(stream, header, path, UInt16.self, Out.self, scaling)
        case .int32: return try convertStream(stream, header, path, Int32.self, Out.self, scaling)
        case .float32: return try convertStream(stream, header, path, Float.self, Out.self, scaling)
        case .float64: return try convertStream(stream, header, path, Double.self, Out.self, scaling)
        }
    }

    private static func convertStream<Raw: VoxelScalar, Out: BinaryFloatingPoint>(
        _ stream: GzipReadStream, _ header: NIfTIHeader, _ path: String,
        _: Raw.Type, _: Out.Type, _ scaling: NIfTIScaling?
    ) throws(NIfTIError) -> [Out] {
        let slope = scaling?.slope ?? 1, intercept = scaling?.intercept ?? 0
        return try streamChunks(stream, header, path, Raw.self) { source, destination in
            switch (slope != 1, intercept != 0) {
            case (false, false):
                for n in 0..<source.count { destination[n] = Out(source[n].doubleValue) }
            case (true, false):
                for n in 0..<source.count { destination[n] = Out(source[n].doubleValue * slope) }
            case (false, true):
                for n in 0..<source.count { destination[n] = Out(source[n].doubleValue + intercept) }
            case (true, true):
                for n in 0..<source.count { destination[n] = Out(source[n].doubleValue * slope + intercept) }
            }
        }
    }

    /// Reads the voxels chunk by chunk into a small buffer of `Raw`, swaps bytes if needed, and
    /// lets `convert` fill the matching stretch of the output.
    @inline(__always)
    private static func streamChunks<Raw, Out>(
        _ stream: GzipReadStream, _ header: NIfTIHeader, _ path: String, _: Raw.Type,
        convert: (UnsafeBufferPointer<Raw>, UnsafeMutableBufferPointer<Out>) -> Void
    ) throws(NIfTIError) -> [Out] {
        let count = header.voxelCount
        let width = MemoryLayout<Raw>.stride
        let perChunk = max(1, chunkBytes / width)
        let chunk = UnsafeMutableBufferPointer<Raw>.allocate(capacity: min(perChunk, count))
        defer { chunk.deallocate() }
        let swap = needsSwap(header)
        var failure: StreamReadFailure?
        let output = [Out](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = min(perChunk, count - done)
                let part = UnsafeMutableBufferPointer(rebasing: chunk[0..<n])
                let raw = UnsafeMutableRawBufferPointer(part)
                do {
                    try stream.readExactly(into: raw)
                } catch let error as StreamReadFailure {
                    if case .endOfFile(let got) = error { failure = .endOfFile(bytesRead: done * width + got) } else { failure = error }
                    return
                } catch {
                    failure = .io("\(error)")
                    return
                }
                if swap { byteSwap(raw, width: width) }
                convert(UnsafeBufferPointer(part), UnsafeMutableBufferPointer(rebasing: buffer[done..<(done + n)]))
                done += n
            }
            initialized = count
        }
        if let failure { throw voxelFailure(failure, header: header, path: path) }
        return output
    }

    private static func voxelFailure(_ failure: StreamReadFailure, header: NIfTIHeader, path: String) -> NIfTIError {
        if case .endOfFile(let got) = failure {
            return NIfTIError(.truncatedData, path: path,
                              reason: "the voxel data ends after \(got) of \(header.dataByteCount) bytes; the file is truncated")
        }
        return mapFailure(failure, path: path, part: "voxel data")
    }

    static func needsSwap(_ header: NIfTIHeader) -> Bool {
        (header.byteOrder == .littleEndian) != HeaderParser.nativeIsLittle
    }

    /// Reverses the bytes of every `width`-byte element in place.
    static func byteSwap(_ raw: UnsafeMutableRawBufferPointer, width: Int) {
        switch width {
        case 2:
            for offset in stride(from: 0, to: raw.count, by: 2) {
                raw.storeBytes(of: raw.load(fromByteOffset: offset, as: UInt16.self).byteSwapped, toByteOffset: offset, as: UInt16.self)
            }
        case 4:
            for offset in stride(from: 0, to: raw.count, by: 4) {
                raw.storeBytes(of: raw.load(fromByteOffset: offset, as: UInt32.self).byteSwapped, toByteOffset: offset, as: UInt32.self)
            }
        case 8:
            for offset in stride(from: 0, to: raw.count, by: 8) {
                raw.storeBytes(of: raw.load(fromByteOffset: offset, as: UInt64.self).byteSwapped, toByteOffset: offset, as: UInt64.self)
            }
        default:
            break
        }
    }
}
