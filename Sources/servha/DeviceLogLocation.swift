import ArgumentParser
import EventLog
import Foundation
import Synchronization

/// Log arguments that name a node's log on the shared LUN: `DEVICE:NODE` (one node), or, where incident
/// directories are taken, `DEVICE` alone (both nodes). What the node's log area holds is copied out into a
/// temporary directory of segment files, which every log and replay command reads like any log directory (and
/// which is removed when the command exits).
enum DeviceLogLocation {
    /// A directory argument as given, or the directory holding `DEVICE:NODE`'s log read from the device. (An
    /// argument transform: a problem is printed as one line and ends the command with status 1 right here, as
    /// the argument parser would otherwise wrap it in its usage text.)
    static func directory(_ argument: String) -> String {
        exitOnFailure { try nodeDirectory(argument) }
    }

    /// Like `directory`, and `DEVICE` alone gives an incident directory with both nodes' logs.
    static func directoryOrIncident(_ argument: String) -> String {
        exitOnFailure { try incidentDirectory(argument) }
    }

    private static func exitOnFailure(_ body: () throws -> String) -> String {
        do {
            return try body()
        } catch let code as ExitCode {
            exit(code.rawValue)
        } catch {
            printError("servha: \(error)")
            exit(1)
        }
    }

    private static func nodeDirectory(_ argument: String) throws -> String {
        if isDirectory(argument) { return argument }
        guard let colon = argument.lastIndex(of: ":") else { return argument }
        let device = String(argument[..<colon])
        let node = String(argument[argument.index(after: colon)...])
        guard !node.isEmpty, isDeviceOrFile(device) else { return argument }
        let opened = try open(device)
        let target = try temporaryDirectory() + "/" + node
        try make(target)
        let read = try materialize(opened, node: node, into: target)
        printError("servha: \(node)'s log read from \(device): \(read.records) records (the newest the device holds)")
        report(read.damaged)
        return target
    }

    private static func incidentDirectory(_ argument: String) throws -> String {
        if isDirectory(argument) || !isDeviceOrFile(argument) { return try nodeDirectory(argument) }
        let opened = try open(argument)
        let incident = try temporaryDirectory()
        var names: [String] = []
        for rank in 0..<2 {
            guard let owner = try wrapped(argument, { try DeviceLogRing.owner(device: opened.0, layout: opened.1, rank: rank) })
            else { continue }
            try make(incident + "/" + owner.name)
            report(try materialize(opened, node: owner.name, into: incident + "/" + owner.name).damaged)
            names.append(owner.name)
        }
        guard !names.isEmpty else { throw fail("\(argument): no node has written its log to the device yet") }
        printError("servha: \(names.joined(separator: " and "))'s logs read from \(argument)")
        return incident
    }

    private static func open(_ device: String) throws -> (SharedDevice, SharedDeviceLayout) {
        try wrapped(device) {
            let opened = try SharedDevice(path: device, writable: false)
            return (opened, try SharedDeviceLayout.read(from: opened))
        }
    }

    private static func materialize(_ opened: (SharedDevice, SharedDeviceLayout), node: String, into target: String)
        throws -> DeviceLogRing.Materialized
    {
        try wrapped(opened.0.path) {
            try DeviceLogRing.materialize(device: opened.0, layout: opened.1, node: node, into: target)
        }
    }

    /// Damaged entries in a ring, one line each: the log read stops at the newest of them that falls inside it.
    private static func report(_ damaged: [DeviceLogRing.Damage]) {
        for damage in damaged { printError("servha: warning: \(damage) (a damaged log ring entry, left out)") }
    }

    private static func wrapped<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail("\(EventLogError.wrap(error, path: path))")
        }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    private static func isDeviceOrFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && ((st.st_mode & S_IFMT) == S_IFBLK || (st.st_mode & S_IFMT) == S_IFREG)
    }

    private static func make(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 else { throw fail("cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    private static let made = Mutex<[String]>([])

    private static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/servha-device.XXXXXX".utf8CString)
        guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw fail("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: path)
        let first = made.withLock { list in
            list.append(directory)
            return list.count == 1
        }
        if first { atexit { DeviceLogLocation.removeTemporaries() } }
        return directory
    }

    private static func removeTemporaries() {
        for directory in made.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: directory) }
    }
}
