import Foundation
import Glibc
import Synchronization

/// Puts virtual IPv4 addresses on interfaces and announces them.
///
/// `add` and `remove` are idempotent: adding an address that is already there, or removing one that is not,
/// succeeds.
public protocol VIPDriver: Sendable {
    /// Why `interface` cannot carry an address (`interface eth9 does not exist`), or nil if it can. Checked at
    /// start-up.
    func interfaceProblem(_ interface: String) -> String?
    func add(address: String, prefixLength: Int, interface: String) async throws
    func remove(address: String, prefixLength: Int, interface: String) async throws
    func isPresent(address: String, interface: String) async -> Bool
    /// Sends `count` gratuitous ARPs for `address` on `interface`, `interval` nanoseconds apart.
    func announce(address: String, interface: String, count: Int, interval: UInt64) async throws
}

/// A driver's failure, in one line.
public struct VIPDriverError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

// MARK: - Linux

/// The real driver: iproute2's `ip` for addresses, and gratuitous ARPs sent on an AF_PACKET socket of its own
/// (no dependency on arping or on which arping a distribution ships). Needs CAP_NET_ADMIN and CAP_NET_RAW.
public struct LinuxVIPDriver: VIPDriver, CustomStringConvertible {
    /// The `ip` program, or nil when iproute2 is not installed.
    public let ipCommand: String?
    /// How long one `ip` command may take.
    public var commandTimeout: UInt64 = 5_000_000_000

    public init(ipCommand: String? = nil) {
        self.ipCommand =
            ipCommand ?? ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { executableProblem($0) == nil }
    }

    public var description: String { "Linux VIP driver (\(ipCommand ?? "ip not found"), AF_PACKET ARP)" }

    public func interfaceProblem(_ interface: String) -> String? {
        guard ipCommand != nil else { return "the ip command (iproute2) is not installed" }
        guard Self.isInterfaceName(interface), FileManager.default.fileExists(atPath: "/sys/class/net/\(interface)")
        else { return "interface \(interface) does not exist" }
        return nil
    }

    public func add(address: String, prefixLength: Int, interface: String) async throws {
        let run = try await ip(["-4", "addr", "add", "\(address)/\(prefixLength)", "dev", interface])
        // "Address already assigned" is success; anything else is success only if the address is there now.
        if run.result == .succeeded { return }
        if await isPresent(address: address, interface: interface) { return }
        throw VIPDriverError("ip -4 addr add \(address)/\(prefixLength) dev \(interface): \(Self.oneLine(run))")
    }

    public func remove(address: String, prefixLength: Int, interface: String) async throws {
        let run = try await ip(["-4", "addr", "del", "\(address)/\(prefixLength)", "dev", interface])
        if run.result == .succeeded { return }
        if !(await isPresent(address: address, interface: interface)) { return }
        throw VIPDriverError("ip -4 addr del \(address)/\(prefixLength) dev \(interface): \(Self.oneLine(run))")
    }

    public func isPresent(address: String, interface: String) async -> Bool {
        guard let run = try? await ip(["-4", "-o", "addr", "show", "dev", interface]), run.result == .succeeded
        else { return false }
        return Self.addresses(inShowOutput: run.output).contains(address)
    }

    public func announce(address: String, interface: String, count: Int, interval: UInt64) async throws {
        guard let ip = GratuitousARP.ipv4(address) else { throw VIPDriverError("\(address) is not an IPv4 address") }
        guard Self.isInterfaceName(interface) else { throw VIPDriverError("interface \(interface) does not exist") }
        let mac = try Self.hardwareAddress(interface)
        let index = try Self.interfaceIndex(interface)
        let socket = try ARPSocket()
        defer { socket.close() }
        let frame = GratuitousARP.frame(mac: mac, ip: ip)
        for sent in 0..<count {
            if sent > 0 { try await Task.sleep(nanoseconds: interval) }
            try socket.send(frame, interfaceIndex: index)
        }
    }

    // MARK: Helpers

    private func ip(_ arguments: [String]) async throws -> ProcessOutcome {
        guard let ipCommand else { throw VIPDriverError("the ip command (iproute2) is not installed") }
        let command = ProcessCommand(executable: ipCommand, arguments: arguments)
        return await ProcessRunner.run(command, timeout: commandTimeout)
    }

    /// The IPv4 addresses in `ip -4 -o addr show` output (`2: eth0    inet 192.0.2.7/24 brd ... scope global eth0`).
    static func addresses(inShowOutput output: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let inet = words.firstIndex(of: "inet"), inet + 1 < words.count else { return nil }
            return words[inet + 1].split(separator: "/").first.map(String.init)
        }
    }

    /// A name that can only mean an interface (no path tricks in /sys/class/net/NAME).
    static func isInterfaceName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count < 16 && name != "." && name != ".."
            && !name.contains(where: { $0 == "/" || $0.isWhitespace })
    }

    /// The interface's MAC address, from /sys/class/net/IF/address.
    static func hardwareAddress(_ interface: String) throws -> [UInt8] {
        let path = "/sys/class/net/\(interface)/address"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw VIPDriverError("interface \(interface) does not exist (no \(path))")
        }
        let bytes = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").compactMap {
            UInt8($0, radix: 16)
        }
        guard bytes.count == 6 else {
            throw VIPDriverError("interface \(interface) has no Ethernet address (\(path): \(text.prefix(40)))")
        }
        return bytes
    }

    /// The interface's index, from /sys/class/net/IF/ifindex.
    static func interfaceIndex(_ interface: String) throws -> Int32 {
        let path = "/sys/class/net/\(interface)/ifindex"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let index = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw VIPDriverError("interface \(interface) does not exist (no \(path))") }
        return index
    }

    private static func oneLine(_ run: ProcessOutcome) -> String {
        let text = run.annotatedOutput.split(whereSeparator: \.isNewline).joined(separator: "; ")
        return text.isEmpty ? run.termination.description : text
    }
}

/// An AF_PACKET socket for sending whole Ethernet frames.
private struct ARPSocket {
    let fd: Int32

    /// ETH_P_ARP, which Swift's Glibc module does not import.
    static let arpProtocol: UInt16 = 0x0806

    init() throws {
        let type = Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        fd = socket(AF_PACKET, type, Int32(Self.arpProtocol.bigEndian))
        guard fd >= 0 else { throw VIPDriverError("AF_PACKET socket: \(errnoText(errno)) (needs CAP_NET_RAW)") }
    }

    func send(_ frame: [UInt8], interfaceIndex: Int32) throws {
        // struct sockaddr_ll (<linux/if_packet.h>, not imported by Swift's Glibc module), laid out by hand:
        // family u16, protocol u16 (network order), ifindex i32, hatype u16, pkttype u8, halen u8, addr[8].
        var address = [UInt8](repeating: 0, count: 20)
        withUnsafeBytes(of: UInt16(AF_PACKET)) { address.replaceSubrange(0..<2, with: $0) }
        withUnsafeBytes(of: Self.arpProtocol.bigEndian) { address.replaceSubrange(2..<4, with: $0) }
        withUnsafeBytes(of: interfaceIndex) { address.replaceSubrange(4..<8, with: $0) }
        address[11] = 6
        address.replaceSubrange(12..<18, with: GratuitousARP.broadcast)
        let sent = frame.withUnsafeBytes { bytes in
            address.withUnsafeBytes { raw in
                sendto(
                    fd,
                    bytes.baseAddress,
                    bytes.count,
                    0,
                    raw.baseAddress?.assumingMemoryBound(to: sockaddr.self),
                    socklen_t(raw.count)
                )
            }
        }
        guard sent == frame.count else {
            throw VIPDriverError("sending gratuitous ARP on interface \(interfaceIndex): \(errnoText(errno))")
        }
    }

    func close() {
        _ = Glibc.close(fd)
    }
}

/// Gratuitous ARP frames (RFC 5227 "ARP announcement").
public enum GratuitousARP {
    static let broadcast: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]

    /// The 42-byte Ethernet frame announcing that `ip` (4 bytes) is at `mac` (6 bytes): to the Ethernet broadcast
    /// address, an ARP request whose sender and target IP are both `ip`, sender MAC `mac`, and target MAC zero
    /// (RFC 5227: ignored by receivers, should be zero). A request rather than a reply because every stack
    /// updates an existing cache entry from a request.
    public static func frame(mac: [UInt8], ip: [UInt8]) -> [UInt8] {
        precondition(mac.count == 6 && ip.count == 4, "a MAC is 6 bytes and an IPv4 address 4")
        var frame: [UInt8] = []
        frame.reserveCapacity(42)
        frame += broadcast  // Ethernet destination
        frame += mac  // Ethernet source
        frame += [0x08, 0x06]  // EtherType: ARP
        frame += [0x00, 0x01]  // hardware type: Ethernet
        frame += [0x08, 0x00]  // protocol type: IPv4
        frame += [6, 4]  // hardware and protocol address lengths
        frame += [0x00, 0x01]  // operation: request
        frame += mac  // sender hardware address
        frame += ip  // sender protocol address
        frame += [0, 0, 0, 0, 0, 0]  // target hardware address
        frame += ip  // target protocol address
        return frame
    }

    /// The four bytes of a dotted-quad IPv4 address, or nil.
    public static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { part -> UInt8? in
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return UInt8(part)
        }
        return bytes.count == 4 ? bytes : nil
    }
}

// MARK: - Dry run

/// A driver that changes nothing: it records what it would do and keeps track of the addresses it would have
/// added, so that monitors agree with starts and stops. For tests, and for trying a configuration on a machine
/// that must not get the address. Each recorded line says `dry run`.
public final class DryRunVIPDriver: VIPDriver, CustomStringConvertible {
    /// One thing the driver would have done.
    public enum Action: Sendable, Hashable, CustomStringConvertible {
        case add(address: String, prefixLength: Int, interface: String)
        case remove(address: String, prefixLength: Int, interface: String)
        case check(address: String, interface: String)
        case announce(address: String, interface: String, count: Int, interval: UInt64)

        public var description: String {
            switch self {
            case .add(let address, let prefixLength, let interface):
                "dry run: would run ip -4 addr add \(address)/\(prefixLength) dev \(interface)"
            case .remove(let address, let prefixLength, let interface):
                "dry run: would run ip -4 addr del \(address)/\(prefixLength) dev \(interface)"
            case .check(let address, let interface):
                "dry run: would look for \(address) on \(interface)"
            case .announce(let address, let interface, let count, let interval):
                "dry run: would send \(count) gratuitous ARP(s) for \(address) on \(interface), "
                    + "\(interval / 1_000_000) ms apart"
            }
        }
    }

    private struct State {
        var actions: [Action] = []
        var present: Set<String> = []
    }

    private let state = Mutex(State())
    private let log: @Sendable (String) -> Void

    /// `log` receives each line as it is recorded (for the daemon's log).
    public init(log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.log = log
    }

    public var description: String { "dry-run VIP driver (records what it would do, changes nothing)" }

    /// Everything the driver would have done, in order.
    public var actions: [Action] { state.withLock { $0.actions } }

    /// `actions` as log lines.
    public var lines: [String] { actions.map(\.description) }

    public func interfaceProblem(_ interface: String) -> String? { nil }

    public func add(address: String, prefixLength: Int, interface: String) async throws {
        record(.add(address: address, prefixLength: prefixLength, interface: interface)) {
            $0.present.insert("\(address)%\(interface)")
        }
    }

    public func remove(address: String, prefixLength: Int, interface: String) async throws {
        record(.remove(address: address, prefixLength: prefixLength, interface: interface)) {
            $0.present.remove("\(address)%\(interface)")
        }
    }

    public func isPresent(address: String, interface: String) async -> Bool {
        record(.check(address: address, interface: interface)) { $0.present.contains("\(address)%\(interface)") }
    }

    public func announce(address: String, interface: String, count: Int, interval: UInt64) async throws {
        record(.announce(address: address, interface: interface, count: count, interval: interval)) { _ in }
    }

    @discardableResult
    private func record<T>(_ action: Action, _ change: (inout State) -> T) -> T {
        let result = state.withLock {
            $0.actions.append(action)
            return change(&$0)
        }
        log(action.description)
        return result
    }
}
