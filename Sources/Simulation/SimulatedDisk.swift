import Coordinator

/// The shared storage: each node's slot as the history of its writes by the instant each landed, so that a read
/// returns what the slot held at some instant while the read was in flight (not necessarily at its end).
///
/// A write lands at some instant between its issue and its completion, whether or not its node is still alive by
/// then (the array has it). The storage keeps each node's writes in order: a write never lands before an earlier
/// one of the same node.
struct SimulatedDisk {
    struct Landing {
        var at: UInt64
        var counter: UInt64
        var view: Advertisement
    }

    private var landings: [[Landing]] = [[], []]
    /// Longer than any slot operation takes (5 s at most, stalled): a read in flight began after `now - keep`.
    static let keep: UInt64 = 6_000_000_000

    mutating func land(_ node: Int, counter: UInt64, view: Advertisement, at instant: UInt64, now: UInt64) {
        let at = max(instant, landings[node].last?.at ?? 0)
        landings[node].append(Landing(at: at, counter: counter, view: view))
        if landings[node].count > 1024 {
            // Keep the newest landing at or before `now - keep` (what a read begun since may still return).
            let cutoff = now > Self.keep ? now - Self.keep : 0
            if let last = landings[node].lastIndex(where: { $0.at <= cutoff }), last > 0 {
                landings[node].removeFirst(last)
            }
        }
    }

    /// What `node`'s slot held at `instant` (counter 0 and an unknown view before its first write landed).
    func slot(_ node: Int, at instant: UInt64) -> (counter: UInt64, view: Advertisement) {
        let list = landings[node]
        var i = list.count - 1
        while i >= 0 && list[i].at > instant { i -= 1 }
        return i >= 0 ? (list[i].counter, list[i].view) : (0, .unknown)
    }
}
