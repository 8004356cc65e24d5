import Coordinator
import EventLog
import Foundation

/// The group's name in DNS: while the group runs here, `name` points at this node's address.
///
/// - start: a TSIG-signed RFC 2136 UPDATE that replaces the name's A and AAAA records with this node's; the
///   server's signature on the answer is checked; then the record is read back from the server (a signed query)
///   before the start succeeds. A refusal names the server's RCODE and TSIG error (`NOTAUTH (TSIG error BADSIG …)`).
/// - monitor: the server still answers this node's address (`notRunning` when it answers another or none).
///   A server that does not answer is no reason to move the group (the other node could not update it either):
///   the monitor then succeeds and says in its output that it could not check.
/// - stop: per `on_stop`, leaves the record (keep) or deletes it unless it already points elsewhere (remove). A
///   server that cannot be reached does not fail the stop: the record is left for the next active to replace.
/// - kill (self-fence): nothing; a node fencing itself sends nothing.
public struct DNSAliasAgent: ResourceAgent {
    public let name: String
    public let spec: DNSAliasSpec
    public let update: DNSRecordUpdate
    let signer: TSIGSigner
    let client: DNSClient
    /// Whether the group is held here (nil: always, for an agent used on its own).
    let hold: GroupHold?
    /// Seconds since the epoch, for TSIG's time signed.
    var clock: @Sendable () -> UInt64 = { UInt64(max(0, Date().timeIntervalSince1970)) }

    /// - Throws: `ResourceSetupError` when this node has no address or the key file cannot be used.
    public init(name: String, spec: DNSAliasSpec, node: String, hold: GroupHold? = nil) throws {
        guard let text = spec.addresses[node], let address = DNSAddress(text) else {
            throw ResourceSetupError("resource \(name): no address for node \(node) (addresses:)")
        }
        let key: TSIGKey
        do { key = try TSIGKey.load(path: spec.keyFile) } catch {
            throw ResourceSetupError("resource \(name): \(error)")
        }
        self.init(name: name, spec: spec, address: address, key: key, hold: hold)
    }

    init(name: String, spec: DNSAliasSpec, address: DNSAddress, key: TSIGKey, hold: GroupHold? = nil) {
        self.name = name
        self.hold = hold
        self.spec = spec
        update = DNSRecordUpdate(zone: spec.zone, name: spec.name, address: address, ttl: spec.ttl)
        signer = TSIGSigner(key: key)
        client = DNSClient(server: spec.server)
    }

    public func perform(_ operation: ResourceOperation, timeout: UInt64) async -> AgentOutcome {
        let started = monotonicNow()
        // The exchanges get most of the operation's time, so that running out of it is our own clear message.
        let budget = Duration.nanoseconds(Int64(clamping: timeout / 10 * 9))
        let (result, output) = await carryOut(operation, within: budget)
        return AgentOutcome(result: result, output: output, tookNanos: monotonicNow() - started)
    }

    /// If the record was changed while this node was cut off (the peer wrote its own during a partition), writes
    /// it again.
    public func reassert() async {
        let epoch = hold?.epoch
        guard hold == nil || epoch != nil, case .notRunning = await monitor(within: .seconds(5)).0 else { return }
        if let hold, let epoch, !hold.holds(epoch) { return }
        _ = await start(within: .seconds(10))
    }

    private var record: String { "\(spec.name) → \(update.address)" }

    private func carryOut(_ operation: ResourceOperation, within budget: Duration) async -> (ResourceResult, String) {
        switch operation {
        case .start: return await start(within: budget)
        case .monitor: return await monitor(within: budget)
        case .stop:
            guard spec.onStop == .remove else {
                return (.succeeded, "left \(record) on \(spec.server) (on_stop: keep)")
            }
            do {
                let answer = try await signedExchange(update.remove(id: .random(in: .min ... .max)), within: budget)
                switch answer.rcode {
                case 0: return (.succeeded, "removed \(record) from \(spec.server)")
                case 8: return (.succeeded, "\(spec.name) no longer points here; left it as it is (NXRRSET)")
                default:
                    return (.succeeded, "warning: \(spec.server) refused to remove \(record): \(DNSRcode.name(answer.rcode)); it stays until the next active replaces it")
                }
            } catch {
                return (.succeeded, "warning: \(record) not removed: \(error); it stays until the next active replaces it")
            }
        case .kill:
            return (.succeeded, "left \(record) on \(spec.server) (a node fencing itself sends nothing)")
        }
    }

    private func start(within budget: Duration) async -> (ResourceResult, String) {
        let deadline = ContinuousClock.now + budget
        let answer: DNSMessage
        do {
            answer = try await signedExchange(update.replace(id: .random(in: .min ... .max)), within: budget)
        } catch let failure as TSIGFailure {
            let configured: Bool
            if case .refused = failure { configured = true } else { configured = false }
            return (.failed(exitCode: configured ? 6 : 1), "DNS UPDATE of \(spec.name) refused by \(spec.server): \(failure)")
        } catch {
            return (.failed(exitCode: 1), "DNS UPDATE of \(spec.name) failed: \(error)")
        }
        guard answer.rcode == 0 else {
            return (
                .failed(exitCode: answer.rcode == 9 || answer.rcode == 5 ? 6 : 1),
                "DNS UPDATE of \(spec.name) refused by \(spec.server): \(DNSRcode.name(answer.rcode))"
            )
        }
        let check = await lookup(within: deadline - ContinuousClock.now)
        switch check {
        case .failure(let problem):
            return (.failed(exitCode: 1), "updated \(record), but reading it back failed: \(problem)")
        case .success(let addresses) where addresses == [update.address]:
            return (.succeeded, "\(record) on \(spec.server) (TTL \(spec.ttl) s), read back")
        case .success(let addresses):
            return (.failed(exitCode: 1), "updated \(record), but \(spec.server) answers \(Self.list(addresses))")
        }
    }

    private func monitor(within budget: Duration) async -> (ResourceResult, String) {
        switch await lookup(within: budget) {
        case .failure(let problem):
            return (.succeeded, "warning: cannot check \(spec.name) on \(spec.server): \(problem)")
        case .success(let addresses) where addresses == [update.address]:
            return (.succeeded, "\(record) on \(spec.server)")
        case .success(let addresses):
            return (.notRunning, "\(spec.name) points to \(Self.list(addresses)) on \(spec.server), not to \(update.address)")
        }
    }

    /// The addresses the server gives the name now, or why it gave none.
    private func lookup(within budget: Duration) async -> Result<[DNSAddress], LookupProblem> {
        do {
            let answer = try await signedExchange(update.query(id: .random(in: .min ... .max)), within: budget)
            guard answer.rcode == 0 || answer.rcode == 3 else {
                return .failure(LookupProblem(text: "the query was answered \(DNSRcode.name(answer.rcode))"))
            }
            return .success(update.addresses(in: answer))
        } catch {
            return .failure(LookupProblem(text: "\(error)"))
        }
    }

    /// Signs `request`, sends it and returns the verified answer.
    private func signedExchange(_ request: DNSMessage, within budget: Duration) async throws -> DNSMessage {
        let (bytes, mac) = signer.sign(request, now: clock())
        let answer = try await client.exchange(bytes, id: request.id, within: budget)
        return try signer.verify(answer, requestMAC: mac, requestID: request.id, now: clock())
    }

    private static func list(_ addresses: [DNSAddress]) -> String {
        addresses.isEmpty ? "nothing" : addresses.map(\.description).joined(separator: ", ")
    }
}

struct LookupProblem: Error, CustomStringConvertible {
    var text: String
    var description: String { text }
}
