import Coordinator

/// One `--set KEY=VALUE` of `servha replay what-if`: a setting of the configuration file, by its YAML path,
/// changed in the configuration the recorded log ran under.
public struct ConfigOverride: Sendable {
    public var key: String
    public var value: String
    let setting: Setting

    /// The settings what-if can change: those the core decides by (how to run a resource is not replayed).
    static let settings: [Setting] = [
        .duration("heartbeat.interval", \.heartbeatInterval),
        .duration("heartbeat.deadline", \.channelDeadline),
        .duration("lease.duration", \.leaseDuration),
        .duration("lease.safety_margin", \.safetyMargin),
        .duration("lease.disk_only_duration", \.diskOnlyLease),
        .duration("failback.stability", \.failbackStability),
        .duration("restart.window", \.restartWindow),
        Setting(key: "restart.max_local", expects: "a whole number from 0 to 100") { config, text in
            guard let n = Int(text), (0...100).contains(n) else { return nil }
            return { $0.maxLocalRestarts = n }
        } current: { "\($0.maxLocalRestarts)" },
        Setting(key: "failback.mode", expects: "auto, manual or never") { _, text in
            let modes: [String: FailbackMode] = ["auto": .auto, "manual": .manual, "never": .never]
            guard let mode = modes[text] else { return nil }
            return { $0.failback = mode }
        } current: { "\($0.failback)" },
        Setting(key: "failback.preferred_node", expects: "the name of a node of the cluster") { config, text in
            guard let node = config.nodes.first(where: { $0.name == text }) else { return nil }
            return { $0.preferredNode = node.id }
        } current: { config in config.preferredNode.map { config.name(of: $0) } ?? "none" },
    ]

    struct Setting: Sendable {
        var key: String
        var expects: String
        /// The change for a value, or nil when the value is not of the setting's type. Takes the recorded
        /// configuration (a node name is only known there).
        var parse: @Sendable (ClusterConfig, String) -> (@Sendable (inout ClusterConfig) -> Void)?
        var current: @Sendable (ClusterConfig) -> String

        static func duration(_ key: String, _ field: WritableKeyPath<ClusterConfig, Nanos> & Sendable) -> Setting {
            Setting(key: key, expects: "a duration such as 300ms or 1.5s") { _, text in
                guard case .success(let nanos) = DurationText.parse(text) else { return nil }
                return { $0[keyPath: field] = nanos }
            } current: { DurationText.render($0[keyPath: field]) }
        }
    }

    /// Parses `KEY=VALUE`, checking that the key exists. The value is checked against a configuration by
    /// `apply`, since a node name needs the recorded one.
    public static func parse(_ text: String) throws -> ConfigOverride {
        guard let equals = text.firstIndex(of: "=") else {
            throw ReplayError("--set \(text): expected KEY=VALUE, for example heartbeat.deadline=300ms")
        }
        let key = String(text[..<equals])
        let value = String(text[text.index(after: equals)...])
        guard let setting = settings.first(where: { $0.key == key }) else {
            throw ReplayError(
                "--set \(text): no setting \(key.isEmpty ? "(empty)" : key); what-if can change "
                    + settings.map(\.key).joined(separator: ", ")
            )
        }
        return ConfigOverride(key: key, value: value, setting: setting)
    }

    /// The setting's value in `config`, as the configuration file writes it.
    public func current(in config: ClusterConfig) -> String { setting.current(config) }

    /// Changes `config`, or throws a one-line error when the value is not of the setting's type.
    public func apply(to config: inout ClusterConfig) throws {
        guard let change = setting.parse(config, value) else {
            throw ReplayError("--set \(key)=\(value): \(value.isEmpty ? "no value" : "'\(value)'") is not \(setting.expects)")
        }
        change(&config)
    }
}
