import CLZ4

/// liblz4's block API, used inside our own batch framing (we carry lengths and checksums ourselves).
public enum LZ4Block {
    /// Compresses `source` into `destination` (replacing its contents). Returns false, leaving `destination`
    /// empty, when the result would not be smaller than the input: such batches are stored raw.
    ///
    /// `level` 0 is LZ4's fast compressor; 1-12 its high-compression one (LZ4HC, same block format and decoder,
    /// several times slower to compress), for logs where bytes on disk matter more than compression speed.
    public static func compress(_ source: UnsafeRawBufferPointer, into destination: inout [UInt8], level: Int32 = 0) -> Bool {
        destination.removeAll(keepingCapacity: true)
        guard source.count > 0, source.count <= Int(LZ4_MAX_INPUT_SIZE) else { return false }
        let bound = Int(LZ4_compressBound(Int32(source.count)))
        var written: Int32 = 0
        let limit = min(bound, source.count - 1)
        guard limit > 0 else { return false }
        destination = [UInt8](unsafeUninitializedCapacity: bound) { buffer, initialized in
            let from = source.baseAddress!.assumingMemoryBound(to: CChar.self)
            let to = UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            written =
                level > 0
                ? LZ4_compress_HC(from, to, Int32(source.count), Int32(limit), min(level, 12))
                : LZ4_compress_default(from, to, Int32(source.count), Int32(limit))
            initialized = Int(max(written, 0))
        }
        if written <= 0 {
            destination.removeAll(keepingCapacity: true)
            return false
        }
        return true
    }

    /// Decompresses exactly `uncompressedLength` bytes, appending them to `destination`'s cleared storage.
    /// Returns false when the input is malformed or does not produce exactly that many bytes.
    public static func decompress(
        _ source: UnsafeRawBufferPointer,
        uncompressedLength: Int,
        into destination: inout [UInt8]
    ) -> Bool {
        // LZ4 expands at most 255-fold: a larger stated length is damage, refused before it can allocate gigabytes.
        guard uncompressedLength >= 0, uncompressedLength <= Int(Int32.max), source.count > 0,
            source.count <= Int(Int32.max), uncompressedLength / 255 <= source.count
        else { return false }
        var produced: Int32 = -1
        destination = [UInt8](unsafeUninitializedCapacity: max(uncompressedLength, 1)) { buffer, initialized in
            produced = LZ4_decompress_safe(
                source.baseAddress!.assumingMemoryBound(to: CChar.self),
                UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(source.count),
                Int32(uncompressedLength)
            )
            initialized = Int(max(produced, 0))
        }
        return Int(produced) == uncompressedLength
    }
}

/// liblz4's frame API: the format the `lz4` command reads and writes, for files that leave servha.
public enum LZ4FrameFile {
    /// `source` as one complete LZ4 frame (content size and checksum included).
    public static func compress(_ source: [UInt8]) -> [UInt8] {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentSize = UInt64(source.count)
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        let bound = LZ4F_compressFrameBound(source.count, &preferences)
        var output = [UInt8](repeating: 0, count: bound)
        let written = source.withUnsafeBytes { src in
            output.withUnsafeMutableBytes { dst in
                LZ4F_compressFrame(dst.baseAddress, dst.count, src.baseAddress, src.count, &preferences)
            }
        }
        precondition(LZ4F_isError(written) == 0, "LZ4F_compressFrame cannot fail with a bound-sized buffer")
        output.removeSubrange(written...)
        return output
    }

    /// Decompresses a complete frame; nil if it is malformed.
    public static func decompress(_ source: [UInt8]) -> [UInt8]? {
        var context: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0 else { return nil }
        defer { LZ4F_freeDecompressionContext(context) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var consumedTotal = 0
        while true {
            var sourceSize = source.count - consumedTotal
            var chunkSize = chunk.count
            let hint = source.withUnsafeBytes { src in
                chunk.withUnsafeMutableBytes { dst in
                    LZ4F_decompress(
                        context,
                        dst.baseAddress,
                        &chunkSize,
                        src.baseAddress! + consumedTotal,
                        &sourceSize,
                        nil
                    )
                }
            }
            if LZ4F_isError(hint) != 0 { return nil }
            output.append(contentsOf: chunk[0..<chunkSize])
            consumedTotal += sourceSize
            if hint == 0 { return consumedTotal == source.count ? output : nil }
            if sourceSize == 0 && chunkSize == 0 { return nil }
        }
    }
}
