import EventLog
import Foundation
import Glibc

/// Measures the storage's write-through latency the way the log's durable appends use it (a 4 KiB O_DIRECT,
/// O_DSYNC overwrite of preallocated blocks), so that a benchmark can show the ceiling next to its result.
enum DeviceProbe {
    struct Latency {
        var p50: Double
        var p99: Double
    }

    /// nil when the filesystem does not support O_DIRECT.
    static func writeThroughLatency(directory: String, writes: Int = 2000) throws -> Latency? {
        let path = directory + "/device-probe"
        defer { unlink(path) }
        let size = 4 << 20
        let zeros = [UInt8](repeating: 0, count: size)
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return nil }
        _ = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        fdatasync(fd)
        close(fd)
        let direct = open(path, O_WRONLY | O_CLOEXEC | O_DSYNC | 0o40000)
        guard direct >= 0 else { return nil }
        defer { close(direct) }
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, 4096, 4096) == 0, let buffer = memory else { return nil }
        defer { free(buffer) }
        buffer.initializeMemory(as: UInt8.self, repeating: 1, count: 4096)
        var samples: [UInt64] = []
        samples.reserveCapacity(writes)
        for i in 0..<writes {
            let offset = off_t((i * 600) / 4096 * 4096 % size)
            let t0 = monotonicNow()
            guard pwrite(direct, buffer, 4096, offset) == 4096 else { return nil }
            samples.append(monotonicNow() - t0)
        }
        samples.sort()
        return Latency(p50: Double(samples[writes / 2]) / 1000, p99: Double(samples[writes * 99 / 100]) / 1000)
    }
}
