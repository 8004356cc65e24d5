import Foundation
import Runtime

/// The admin request harness. Input: the bytes a client wrote to the admin socket.
///
/// Invariants: only the first line counts (the same request followed by another line parses the same); a known
/// request is exactly one of the known names once spaces and tabs are trimmed; an unknown one keeps its trimmed
/// line, and its error reply is one line that starts with `error: `.
enum AdminFuzzCheck {
    static let known = [
        "status", "status-json", "switchover", "failback", "standby", "unstandby", "maintenance-on", "maintenance-off",
    ]

    static func check(_ input: [UInt8]) throws(FuzzViolation) -> FuzzOutcome {
        let request = AdminRequest.parse(input)
        let firstLine = Array(input.prefix { $0 != 0x0A })
        try require(
            AdminRequest.parse(firstLine + [0x0A] + input) == request,
            "a request parses differently with a second line after it"
        )
        switch request {
        case .status, .statusJSON, .command:
            let line = String(decoding: firstLine, as: UTF8.self)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            try require(known.contains(trimmed), "'\(line)' parsed as the known request \(request)")
            return .accepted
        case .unknown(let line):
            try require(!known.contains(line), "known request '\(line)' parsed as unknown")
            try require(!line.contains("\n"), "an unknown request line holds a newline")
            try require(
                line.unicodeScalars.first.map { $0 != " " && $0 != "\t" } ?? true
                    && line.unicodeScalars.last.map { $0 != " " && $0 != "\t" } ?? true,
                "an unknown request line is not trimmed"
            )
            let reply = AdminRequest.unknownReply(line)
            try require(
                reply.hasPrefix("error: ") && reply.hasSuffix("\n") && reply.utf8.filter { $0 == 0x0A }.count == 1,
                "the error reply to an unknown request is not one line"
            )
            return .rejected("unknown request")
        }
    }
}
