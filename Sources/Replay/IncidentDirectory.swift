import EventLog
import Foundation

/// What a path given to `replay verify` names: one node's log, or an incident directory that holds the logs of
/// the nodes involved (one subdirectory each, as `Fixtures/` and an operator's collected evidence keep them).
public enum IncidentDirectory {
    /// The log directories under `path`: `[path]` when it is a log itself, else its subdirectories that are
    /// logs, in name order. A path that is neither is a one-line error naming it.
    public static func logs(at path: String) throws -> [String] {
        if try isLog(path) { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var found: [String] = []
        for name in names.sorted() {
            let child = path + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: child, isDirectory: &isDirectory), isDirectory.boolValue else {
                continue
            }
            if try isLog(child) { found.append(child) }
        }
        guard !found.isEmpty else {
            throw ReplayError(
                "\(path): neither a log directory nor an incident directory (no log segments in it or in a "
                    + "subdirectory of it)"
            )
        }
        return found
    }

    private static func isLog(_ path: String) throws -> Bool {
        do {
            return !(try LogDirectory(path).segments.isEmpty)
        } catch {
            throw ReplayError("\(EventLogError.wrap(error, path: path))")
        }
    }
}
