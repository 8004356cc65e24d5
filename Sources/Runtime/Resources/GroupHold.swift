import Coordinator
import Synchronization

/// Whether this node holds the group right now, and at which epoch: set by the shell after every change of the
/// core's state, read by the VIP's gratuitous ARP repeats before each packet, so that no announcement leaves
/// after the group was released here (a repeat sent after the peer took the address would move the clients back).
public final class GroupHold: Sendable {
    private let heldEpoch = Atomic<UInt64>(0)

    public init() {}

    /// The epoch under which the group runs here, or nil.
    public var epoch: Epoch? {
        let value = heldEpoch.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    public func set(_ epoch: Epoch?) { heldEpoch.store(epoch ?? 0, ordering: .releasing) }

    /// Held at this epoch (a later takeover under another epoch is another holding).
    public func holds(_ epoch: Epoch) -> Bool { self.epoch == epoch }
}
