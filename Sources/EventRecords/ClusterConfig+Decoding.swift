import Coordinator
import EventLog

extension ByteSink: CanonicalWriter {}

extension ClusterConfig {
    public static func decode(from source: inout ByteSource) throws -> ClusterConfig {
        let version = try source.readByte()
        guard version == 1 || version == 2 else {
            throw CodecError("config encoding version \(version) is newer than this servha reads")
        }
        let cluster = try source.readString()
        let nodeCount = try source.readVarint()
        guard nodeCount <= 16 else { throw CodecError("implausible node count \(nodeCount)") }
        var nodes: [NodeConfig] = []
        for _ in 0..<nodeCount {
            let id = try source.readVarint()
            nodes.append(NodeConfig(id: NodeID(truncatingIfNeeded: id), name: try source.readString()))
        }
        let channelCount = try source.readVarint()
        guard channelCount <= 64 else { throw CodecError("implausible channel count \(channelCount)") }
        var channels: [String] = []
        for _ in 0..<channelCount { channels.append(try source.readString()) }
        var config = ClusterConfig(cluster: cluster, nodes: nodes, networkChannels: channels, resources: [])
        config.heartbeatInterval = try source.readVarint()
        config.channelDeadline = try source.readVarint()
        config.leaseDuration = try source.readVarint()
        config.safetyMargin = try source.readVarint()
        config.startupDiscovery = try source.readVarint()
        let preferred = try source.readVarint()
        config.preferredNode = preferred == 0 ? nil : NodeID(truncatingIfNeeded: preferred - 1)
        guard let failback = FailbackMode(rawValue: try source.readByte()) else {
            throw CodecError("bad failback mode")
        }
        config.failback = failback
        config.failbackStability = try source.readVarint()
        let resourceCount = try source.readVarint()
        guard resourceCount <= 64 else { throw CodecError("implausible resource count \(resourceCount)") }
        for _ in 0..<resourceCount { config.resources.append(ResourceConfig(name: try source.readString())) }
        guard let restarts = Int(exactly: try source.readVarint()) else {
            throw CodecError("implausible restart count")
        }
        config.maxLocalRestarts = restarts
        config.restartWindow = try source.readVarint()
        config.arbitrator = try source.readByte() != 0
        config.fencing = try source.readByte() != 0
        guard let every = Int(exactly: try source.readVarint()), every > 0 else {
            throw CodecError("digest interval must be positive")
        }
        config.digestEvery = every
        let sinks = try source.readVarint()
        guard sinks <= 64 else { throw CodecError("implausible alarm sink count \(sinks)") }
        config.alarmSinks = Int(sinks)
        // Version 1 had no disk-only lease: its logs were written by a node that renewed by disk on the short
        // lease, so they replay under that.
        config.diskOnlyLease = version >= 2 ? try source.readVarint() : config.leaseDuration
        if version >= 2 { config.fenceRetry = try source.readVarint() }
        return config
    }
}

/// A decoding failure, in a few words.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension Advertisement {
    public static func decode(from source: inout ByteSource) throws -> Advertisement {
        guard let role = Role(rawValue: try source.readByte()) else { throw CodecError("unknown role") }
        let epoch = try source.readVarint()
        let up = try source.readVarint()
        let flags = try source.readByte()
        let remaining = flags & 128 != 0 ? try source.readVarint() : 0
        guard remaining <= 86_400_000 else { throw CodecError("implausible disk-only lease \(remaining) ms") }
        return Advertisement(
            role: role,
            epoch: epoch,
            owns: flags & 1 != 0,
            resourcesUp: up,
            arbitratorReachable: flags & 32 != 0 ? flags & 64 != 0 : nil,
            acknowledgesPeer: flags & 2 != 0,
            yields: flags & 4 != 0,
            healthy: flags & 8 != 0,
            maintenance: flags & 16 != 0,
            diskOnlyRemaining: remaining * 1_000_000
        )
    }
}
