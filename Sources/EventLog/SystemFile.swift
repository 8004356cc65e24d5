#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor with the few system calls the log needs, each turning failure into an `EventLogError` that
/// names the file. Not a general file API: just enough to write, sync, rename and read segments.
struct SystemFile: ~Copyable {
    let descriptor: Int32
    let path: String

    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws -> SystemFile {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw EventLogError.system("cannot open", path: path) }
        return SystemFile(descriptor: fd, path: path)
    }

    deinit { Glibc.close(descriptor) }

    func size() throws -> Int {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw EventLogError.system("cannot stat", path: path) }
        return Int(st.st_size)
    }

    /// Writes all of `bytes` at `offset`, retrying short writes and EINTR.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw EventLogError.system("cannot write", path: path, offset: Int64(offset + done))
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { (raw) in try write(raw, at: offset) }
    }

    /// Reads the whole file.
    func readAll() throws -> [UInt8] {
        let total = try size()
        return try read(count: total, at: 0)
    }

    func read(count: Int, at offset: Int) throws -> [UInt8] {
        var failure: EventLogError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = EventLogError.system("cannot read", path: path, offset: Int64(offset + done))
                    break
                }
                if n == 0 { break }
                done += n
            }
            initialized = done
        }
        if let failure { throw failure }
        return bytes
    }

    /// fdatasync. A failure is final: the kernel may have dropped the dirty pages, so retrying could report
    /// success for data that is gone.
    func syncData() throws {
        guard fdatasync(descriptor) == 0 else {
            throw EventLogError(.syncFailed, "fdatasync failed: \(errnoText(errno))", path: path, errno: errno)
        }
    }

    func sync() throws {
        guard fsync(descriptor) == 0 else {
            throw EventLogError(.syncFailed, "fsync failed: \(errnoText(errno))", path: path, errno: errno)
        }
    }

    func truncate(to length: Int) throws {
        guard ftruncate(descriptor, off_t(length)) == 0 else {
            throw EventLogError.system("cannot truncate", path: path)
        }
    }

    func unlock() {
        flock(descriptor, LOCK_UN)
    }

    /// Takes an exclusive advisory lock, or fails at once when another process holds it.
    func lockExclusive() throws {
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            throw EventLogError(.locked, "another servha process is writing this log (lock held)", path: path)
        }
    }
}

/// Directory operations the log needs.
enum SystemDirectory {
    /// fsync on the directory, so that a rename or a new file survives a crash.
    static func sync(_ path: String) throws {
        let directory = try SystemFile.open(path, flags: O_RDONLY | O_DIRECTORY)
        try directory.sync()
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func fileExists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    static func fileSize(_ path: String) -> Int? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Int(st.st_size)
    }

    /// Entry names in `path`, sorted.
    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw EventLogError.system("cannot list directory", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func create(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw EventLogError.system("cannot create directory", path: path)
        }
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw EventLogError.system("cannot rename to \(to)", path: from) }
    }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw EventLogError.system("cannot remove", path: path) }
    }
}

func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

extension EventLogError {
    /// An I/O error from the current errno.
    public static func system(_ what: String, path: String, offset: Int64? = nil) -> EventLogError {
        let code = Glibc.errno
        return EventLogError(.io, "\(what): \(errnoText(code))", path: path, offset: offset, errno: code)
    }
}
