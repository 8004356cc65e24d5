import Coordinator
import EventRecords
import EventLog

/// A node's log read back as coordinator events, with the record each came from.
public struct RecordedLog: Sendable {
    public var directory: String
    public var identity: LogIdentity
    public var events: [Event]
    /// The log sequence number of each event.
    public var sequences: [UInt64]
    /// The wall-clock time of each event's record.
    public var walls: [Int64]
    /// The node's state before the first event (nil: a fresh node's, as when the log starts at the beginning).
    /// Set for a window cut from a longer history, such as the daemon console's recent events.
    public var initialState: State?

    public init(
        directory: String,
        identity: LogIdentity,
        events: [Event],
        sequences: [UInt64],
        walls: [Int64],
        initialState: State? = nil
    ) {
        self.directory = directory
        self.identity = identity
        self.events = events
        self.sequences = sequences
        self.walls = walls
        self.initialState = initialState
    }

    /// Reads and decodes a log directory. Throws one-line errors: a damaged log (file, offset, reason), a gap in
    /// the sequence numbers, a record from a newer format, or a directory that holds no log.
    public static func load(_ directory: String) throws -> RecordedLog {
        var events: [Event] = []
        var sequences: [UInt64] = []
        var walls: [Int64] = []
        let summary: ReadSummary
        do {
            summary = try LogReader(directory: directory).forEachRecord { view in
                do {
                    events.append(try EventCodec.decode(view))
                } catch {
                    throw ReplayError("\(directory): record \(view.sequence): \(error)")
                }
                sequences.append(view.sequence)
                walls.append(view.wallNanos)
                return true
            }
        } catch let error as ReplayError {
            throw error
        } catch {
            throw ReplayError("\(EventLogError.wrap(error, path: directory))")
        }
        guard let identity = summary.identity else { throw ReplayError("\(directory): no log segments here") }
        if let torn = summary.tornTail {
            throw ReplayError(
                "\(torn.path): offset \(torn.offset): torn tail; run `servha log recover` on a copy first"
            )
        }
        return RecordedLog(directory: directory, identity: identity, events: events, sequences: sequences, walls: walls)
    }
}

/// A replay problem, in one line.
public struct ReplayError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension RecordedLog {
    /// The group's resource names, from the first configuration in the log (for naming them in descriptions).
    public var resourceNames: [String] {
        for event in events {
            if case .input(let stamped) = event, case .configLoaded(let config) = stamped.input {
                return config.resources.map(\.name)
            }
        }
        return []
    }
}
