/// Who writes a log and under what: recorded in every segment header so that a log can always say which node,
/// cluster, servha version and configuration produced it.
public struct LogIdentity: Sendable, Hashable {
    public var cluster: String
    public var nodeName: String
    public var node: UInt16
    public var servhaVersion: String
    /// SHA-256 of the configuration in force (32 bytes; zeros when there is none, as in tests and benchmarks).
    public var configHash: [UInt8]

    public init(cluster: String, nodeName: String, node: UInt16, servhaVersion: String, configHash: [UInt8]) {
        self.cluster = cluster
        self.nodeName = nodeName
        self.node = node
        self.servhaVersion = servhaVersion
        self.configHash = configHash
    }
}
