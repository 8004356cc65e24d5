/// How the writer batches, compresses, syncs and rotates. The defaults suit a heartbeat-heavy log.
public struct WriterOptions: Sendable {
    /// Seal the active segment and start a new one once it would grow past this many bytes.
    public var segmentBytes = 64 << 20
    /// Close a batch once its uncompressed records reach this size (LZ4 gains 3-5x on 16-64 KiB).
    public var batchBytes = 64 << 10
    /// Buffered records reach the file at most this long after they are appended (group commit's bound).
    public var maxBufferDelayNanos: UInt64 = 5_000_000
    /// Buffered records are fdatasync'ed at most this long after they reach the file, even if nobody asks.
    public var syncIntervalNanos: UInt64 = 1_000_000_000
    /// How long a sync may wait for more durable appends to join it, while fewer producers are waiting than
    /// joined recent syncs. Producers woken by one sync need a moment to append again; without this wait they
    /// miss the next sync, and each sync carries half of them.
    public var syncLingerNanos: UInt64 = 60_000
    /// How long a thread in `appendDurableBlocking` spins (yielding) before it sleeps until its sync is done.
    public var durableSpinNanos: UInt64 = 200_000
    /// Compress batches with LZ4 when that makes them smaller.
    public var compress = true
    /// 0: LZ4's fast compressor (hundreds of MB/s, for heavy logs); 1-12: LZ4HC at that level (tens of MB/s, a
    /// better ratio; the same decoder), for a log of a few KB/s that runs for years.
    public var compressionLevel: Int32 = 0
    /// The active segment is zero-filled this far ahead of the writer, so that a data sync does not have to
    /// change the file size (on ext4 that halves the fdatasync latency).
    public var preallocationBytes = 1 << 20
    /// Write the active segment with O_DIRECT (block-aligned, write-through for durable appends) when the
    /// filesystem supports it; otherwise, or when false, write through the page cache and fdatasync.
    public var directIO = true
    /// Create the log directory (one level) when it is missing.
    public var createDirectory = true

    public init() {}
}

/// What the writer had to repair when it opened the log.
public struct RecoveryReport: Sendable {
    /// The torn last batch that was cut away, if there was one.
    public var tornTail: TornTail?
    /// The number of bytes cut (torn batch and zero fill).
    public var bytesCut = 0
    /// The sequence the next record gets.
    public var nextSequence: UInt64 = 1
    /// The segment files found.
    public var segments = 0
}

/// Counters the writer keeps for benchmarks and metrics.
public struct WriterCounters: Sendable {
    public init() {}
    public var records: UInt64 = 0
    public var batches: UInt64 = 0
    public var syncs: UInt64 = 0
    /// Time spent in fdatasync, in nanoseconds.
    public var syncNanos: UInt64 = 0
    /// Time spent framing, compressing and writing, in nanoseconds.
    public var writeNanos: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    public var uncompressedBytes: UInt64 = 0
    public var segmentsSealed: UInt64 = 0
}
