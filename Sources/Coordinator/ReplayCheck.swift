/// Re-runs a node's recorded inputs through a fresh core and compares everything it derives.
public enum ReplayCheck {
    /// nil when the replay matches the log event for event; otherwise where and how it first differs.
    public static func firstDivergence(node: NodeID, log: [Event]) -> String? {
        var core = Coordinator(node: node)
        var index = 0
        while index < log.count {
            guard let stamped = log[index].stampedInput else {
                return "event \(index) is a derived event with no input before it: \(log[index])"
            }
            let produced = core.handle(stamped).events
            for (offset, event) in produced.enumerated() {
                let at = index + offset
                guard at < log.count else { return "replay produced more events than recorded at \(at): \(event)" }
                if log[at] != event {
                    return "event \(at) differs: recorded \(log[at]), replayed \(event)"
                }
            }
            index += produced.count
        }
        return nil
    }
}
