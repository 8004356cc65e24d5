import Coordinator
import EventLog
import Foundation
import Synchronization

/// A virtual IPv4 address, added to and removed from an interface through a `VIPDriver`.
///
/// - start: adds the address, then announces it with `garpCount` gratuitous ARPs `garpInterval` apart, so that
///   the neighbours' caches move to this node at once. The start returns after the first one: the repeats (for
///   a neighbour that missed it) go on in the background while the next resources start, as keepalived does,
///   rather than holding the group's start up for `garpCount - 1` intervals (0.8 s at the defaults). They stop
///   early if the address is removed meanwhile. When the address is up but the announcement fails, the start
///   still succeeds (with a warning in its output): the address serves, caches expire on their own, and failing
///   would stop the resource over what is usually a permission that will not come back on a retry.
/// - stop and kill: remove the address (removing an absent address succeeds).
/// - monitor: succeeded while the address is on the interface, `notRunning` when it is not.
///
/// A driver failure is `failed(exitCode: 1)` (OCF_ERR_GENERIC) with the driver's message as output. The operation
/// is given `timeout`; past it the driver's work is cancelled and the result is `timedOut`.
public struct VIPAgent: ResourceAgent {
    public let name: String
    public let address: String
    public let prefixLength: Int
    public let interface: String
    public let garpCount: Int
    public let garpInterval: UInt64
    public let driver: any VIPDriver
    /// Whether the group is still held here (nil: always, for an agent used on its own).
    public let hold: GroupHold?
    private let repeats = AnnouncementRepeats()

    public init(
        name: String,
        address: String,
        prefixLength: Int,
        interface: String,
        garpCount: Int,
        garpInterval: UInt64,
        driver: any VIPDriver,
        hold: GroupHold? = nil
    ) {
        self.hold = hold
        self.name = name
        self.address = address
        self.prefixLength = prefixLength
        self.interface = interface
        self.garpCount = garpCount
        self.garpInterval = garpInterval
        self.driver = driver
    }

    /// Announces the address again, `garpCount` times, each only while the address is here and the group still
    /// held at the epoch it was held at when asked.
    public func reassert() async {
        await announce(count: garpCount, firstAfter: 0, epoch: hold?.epoch)
    }

    /// Sends `count` gratuitous ARPs `garpInterval` apart, the first after `firstAfter`; before each, checks that
    /// the group is still held here at `epoch` and the address still on the interface, and stops otherwise. A
    /// stop or kill of the address cancels them at once.
    private func announce(count: Int, firstAfter: UInt64, epoch: Epoch?) async {
        let task = Task { [driver, address, interface, garpInterval, hold] in
            for sent in 0..<count {
                let wait = sent == 0 ? firstAfter : garpInterval
                if wait > 0 { try? await Task.sleep(nanoseconds: wait) }
                guard !Task.isCancelled else { return }
                if let hold, let epoch, !hold.holds(epoch) { return }
                if hold != nil && epoch == nil { return }
                guard await driver.isPresent(address: address, interface: interface), !Task.isCancelled else { return }
                try? await driver.announce(address: address, interface: interface, count: 1, interval: 0)
            }
        }
        repeats.replace(with: task)
        await task.value
    }

    public func perform(_ operation: ResourceOperation, timeout: UInt64) async -> AgentOutcome {
        let started = monotonicNow()
        let (result, output) = await withTaskGroup(of: (ResourceResult, String)?.self) { group in
            group.addTask { await self.carryOut(operation) }
            group.addTask {
                try? await Task.sleep(nanoseconds: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? (.timedOut, "\(operation) timed out after \(timeout / 1_000_000) ms")
        }
        let note = driver is DryRunVIPDriver ? "dry run: " : ""
        return AgentOutcome(result: result, output: note + output, tookNanos: monotonicNow() - started)
    }

    private func carryOut(_ operation: ResourceOperation) async -> (ResourceResult, String) {
        let cidr = "\(address)/\(prefixLength)"
        switch operation {
        case .start:
            do {
                try await driver.add(address: address, prefixLength: prefixLength, interface: interface)
            } catch {
                return (.failed(exitCode: 1), "adding \(cidr) to \(interface) failed: \(error)")
            }
            guard garpCount > 0 else { return (.succeeded, "added \(cidr) to \(interface)") }
            do {
                try await driver.announce(address: address, interface: interface, count: 1, interval: garpInterval)
            } catch {
                return (.succeeded, "added \(cidr) to \(interface); warning: gratuitous ARP failed: \(error)")
            }
            guard garpCount > 1 else { return (.succeeded, "added \(cidr) to \(interface), sent a gratuitous ARP") }
            let (more, interval, epoch) = (garpCount - 1, garpInterval, hold?.epoch)
            Task.detached { await self.announce(count: more, firstAfter: interval, epoch: epoch) }
            return (
                .succeeded,
                "added \(cidr) to \(interface), sent a gratuitous ARP (\(more) more follow, \(interval / 1_000_000) ms apart)"
            )
        case .stop, .kill:
            repeats.cancel()  // no announcement for an address that is going
            do {
                try await driver.remove(address: address, prefixLength: prefixLength, interface: interface)
            } catch {
                return (.failed(exitCode: 1), "removing \(cidr) from \(interface) failed: \(error)")
            }
            return (.succeeded, "removed \(cidr) from \(interface)")
        case .monitor:
            if await driver.isPresent(address: address, interface: interface) {
                return (.succeeded, "\(address) is on \(interface)")
            }
            return (.notRunning, "\(address) is not on \(interface)")
        }
    }
}

/// The announcements in flight for one address (at most one run of repeats at a time).
final class AnnouncementRepeats: Sendable {
    private let current = Mutex<Task<Void, Never>?>(nil)

    func replace(with task: Task<Void, Never>) {
        current.withLock {
            $0?.cancel()
            $0 = task
        }
    }

    func cancel() { current.withLock { $0?.cancel() } }
}
