import Coordinator
import EventLog
import Foundation

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

    public init(
        name: String,
        address: String,
        prefixLength: Int,
        interface: String,
        garpCount: Int,
        garpInterval: UInt64,
        driver: any VIPDriver
    ) {
        self.name = name
        self.address = address
        self.prefixLength = prefixLength
        self.interface = interface
        self.garpCount = garpCount
        self.garpInterval = garpInterval
        self.driver = driver
    }

    public func reassert() async {
        try? await driver.announce(address: address, interface: interface, count: garpCount, interval: garpInterval)
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
            let (driver, address, interface, repeats, interval) = (driver, address, interface, garpCount - 1, garpInterval)
            Task.detached {
                try? await Task.sleep(nanoseconds: interval)
                guard await driver.isPresent(address: address, interface: interface) else { return }
                try? await driver.announce(address: address, interface: interface, count: repeats, interval: interval)
            }
            return (
                .succeeded,
                "added \(cidr) to \(interface), sent a gratuitous ARP (\(repeats) more follow, \(interval / 1_000_000) ms apart)"
            )
        case .stop, .kill:
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
