import Coordinator
import EventLog
import Foundation
import Glibc
import Synchronization

/// A program to run: an absolute path, its arguments, and variables added to the daemon's own environment.
public struct ProcessCommand: Sendable, Hashable {
    public var executable: String
    /// The arguments after argv[0] (argv[0] is `executable`).
    public var arguments: [String]
    /// Added to (and overriding) the daemon's environment.
    public var environment: [String: String]

    public init(executable: String, arguments: [String] = [], environment: [String: String] = [:]) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
    }

    /// `/bin/sh -c command`.
    public static func shell(_ command: String, environment: [String: String] = [:]) -> ProcessCommand {
        ProcessCommand(executable: "/bin/sh", arguments: ["-c", command], environment: environment)
    }
}

/// How a run ended.
public enum ProcessTermination: Sendable, Hashable, CustomStringConvertible {
    case exited(Int32)
    /// Killed by a signal that the runner did not send.
    case signaled(Int32)
    /// The deadline passed, or the calling task was cancelled: the process group got SIGTERM and, if it was still
    /// there after the grace period, SIGKILL (`killed`).
    case timedOut(cancelled: Bool, killed: Bool)
    /// posix_spawn (or setting up its pipes) failed; nothing ran.
    case couldNotStart(String)

    public var description: String {
        switch self {
        case .exited(let code): "exit \(code)"
        case .signaled(let signal): "killed by signal \(signal) (\(signalName(signal)))"
        case .timedOut(let cancelled, let killed):
            (cancelled ? "cancelled" : "timed out") + ": SIGTERM sent to the process group"
                + (killed ? ", then SIGKILL" : "")
        case .couldNotStart(let reason): "could not start: \(reason)"
        }
    }
}

/// The end of one run: how it ended, what it printed (stdout and stderr interleaved, bounded) and how long it took.
public struct ProcessOutcome: Sendable, Hashable {
    public var termination: ProcessTermination
    /// Standard output and standard error as one stream, at most `ProcessRunner.outputLimit` bytes (the head and the
    /// tail, with `[truncated]` between them when there was more).
    public var output: String
    public var tookNanos: UInt64
    /// The process id, if it started (reaped by the time the outcome is returned, except after a SIGKILL that did
    /// not take effect within a second, when a waiting thread reaps it later).
    public var pid: Int32?

    /// The outcome in resource terms, with no agent's conventions applied: exit 0 is success, any other exit is
    /// `failed` with its code (128 + the signal for a signal, 127 when the program could not start, as shells do).
    public var result: ResourceResult {
        switch termination {
        case .exited(0): .succeeded
        case .exited(let code): .failed(exitCode: code)
        case .signaled(let signal): .failed(exitCode: 128 + signal)
        case .timedOut: .timedOut
        case .couldNotStart: .failed(exitCode: 127)
        }
    }

    /// The output, preceded by a line saying how the run ended when it did not simply exit.
    public var annotatedOutput: String {
        if case .exited = termination { return output }
        return output.isEmpty ? termination.description : termination.description + "\n" + output
    }
}

/// Runs programs for resource agents, alarms and fencing without ever blocking a cooperative thread.
///
/// Each run gets its own session (POSIX_SPAWN_SETSID), so the process and everything it starts (unless they move to
/// a session of their own, as daemons do) form one process group that a timeout can end as a whole: SIGTERM to the
/// group at the deadline, SIGKILL to the group `killGrace` later if anything in it is still alive. Signal
/// dispositions and the signal mask are reset to the defaults in the child (the daemon may ignore SIGPIPE or
/// SIGTERM, and ignored signals survive exec), and descriptors other than 0, 1 and 2 are closed.
///
/// A supervising thread spawns the process, reads its output and enforces the deadline; a second thread blocks in
/// `waitpid` for that one pid and so always reaps it, even when the supervisor has given up on it. The run ends
/// when the process exits, not when its output closes: a start command may leave a daemon behind that keeps the
/// output pipe open. Such a daemon must send its output elsewhere, because the pipe is closed once the command
/// has exited (a later write would fail with EPIPE, or kill a daemon that does not ignore SIGPIPE).
public enum ProcessRunner {
    /// The most output kept, in bytes.
    public static let outputLimit = 4096
    /// Between SIGTERM and SIGKILL.
    public static let killGrace: UInt64 = 2_000_000_000
    /// How long to wait after SIGKILL for the process to be reaped before returning anyway (a process stuck in
    /// uninterruptible sleep dies only when its I/O completes; the coordinator needs its answer before that).
    static let reapGrace: UInt64 = 1_000_000_000

    /// Runs `command` with `timeout` nanoseconds to finish, writing `stdin` to its standard input (or giving it
    /// /dev/null). Cancelling the calling task ends the process group as a timeout would.
    public static func run(
        _ command: ProcessCommand,
        stdin: [UInt8] = [],
        timeout: UInt64,
        killGrace: UInt64 = ProcessRunner.killGrace
    ) async -> ProcessOutcome {
        guard let control = RunControl() else {
            return ProcessOutcome(
                termination: .couldNotStart("pipe: \(errnoText(errno))"),
                output: "",
                tookNanos: 0,
                pid: nil
            )
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ProcessOutcome, Never>) in
                let thread = Thread {
                    let outcome = supervise(command, stdin: stdin, timeout: timeout, killGrace: killGrace, control)
                    continuation.resume(returning: outcome)
                }
                thread.start()
            }
        } onCancel: {
            control.cancel()
        }
    }

    /// `/bin/sh -c command` with `environment` added.
    public static func run(
        shell command: String,
        environment: [String: String] = [:],
        stdin: [UInt8] = [],
        timeout: UInt64
    ) async -> ProcessOutcome {
        await run(.shell(command, environment: environment), stdin: stdin, timeout: timeout)
    }

    /// `executable` with `arguments` and `environment` added.
    public static func run(
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        stdin: [UInt8] = [],
        timeout: UInt64
    ) async -> ProcessOutcome {
        await run(
            ProcessCommand(executable: executable, arguments: arguments, environment: environment),
            stdin: stdin,
            timeout: timeout
        )
    }

    // MARK: - The supervising thread

    private enum Phase {
        case running
        /// SIGTERM sent; SIGKILL at the deadline if the group still has live members.
        case terminating
        /// SIGKILL sent; waiting (briefly) to reap.
        case killed
    }

    private static func supervise(
        _ command: ProcessCommand,
        stdin: [UInt8],
        timeout: UInt64,
        killGrace: UInt64,
        _ control: RunControl
    ) -> ProcessOutcome {
        let start = monotonicNow()
        // Writing to a pipe whose reader is gone raises SIGPIPE in the writing thread; blocked here, the write
        // fails with EPIPE instead of ending the daemon. (The child gets an empty mask from posix_spawn.)
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        defer { control.finish() }

        // Cancelled before it began: nothing to start, nothing to end.
        if control.snapshot.cancelled {
            return ProcessOutcome(
                termination: .timedOut(cancelled: true, killed: false),
                output: "",
                tookNanos: 0,
                pid: nil
            )
        }
        var descriptors = ChildDescriptors()
        defer { descriptors.closeAll() }
        if let problem = descriptors.open(withStdin: !stdin.isEmpty) {
            return ProcessOutcome(termination: .couldNotStart(problem), output: "", tookNanos: 0, pid: nil)
        }
        let pid: pid_t
        switch spawn(command, stdin: descriptors.childStdin, output: descriptors.childOutput) {
        case .failure(let problem):
            return ProcessOutcome(
                termination: .couldNotStart("\(command.executable): \(problem.reason)"),
                output: "",
                tookNanos: monotonicNow() - start,
                pid: nil
            )
        case .success(let spawned):
            pid = spawned
        }
        descriptors.closeChildEnds()

        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            control.exited(status: status)
        }
        waiter.start()

        var output = BoundedOutput(limit: outputLimit)
        var pendingInput = stdin[...]
        var phase = Phase.running
        var deadline = start.addingReportingOverflow(timeout).overflow ? UInt64.max : start + timeout
        var cancelled = false
        var status: Int32?
        var buffer = [UInt8](repeating: 0, count: 65_536)

        loop: while true {
            let snapshot = control.snapshot
            status = status ?? snapshot.status
            let now = monotonicNow()
            switch phase {
            case .running:
                if status != nil { break loop }
                if snapshot.cancelled || now >= deadline {
                    cancelled = snapshot.cancelled && now < deadline
                    kill(-pid, SIGTERM)
                    phase = .terminating
                    deadline = now + killGrace
                    continue loop
                }
            case .terminating:
                // The group (not just its leader) must be gone: a child that ignores SIGTERM gets SIGKILL.
                if status != nil && !processGroupHasLiveMembers(pid) { break loop }
                if now >= deadline {
                    kill(-pid, SIGKILL)
                    phase = .killed
                    deadline = now + reapGrace
                    continue loop
                }
            case .killed:
                if status != nil || now >= deadline { break loop }
            }

            var waitMillis = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            // Group members that are not our children cannot wake us when they die: look again shortly.
            if status != nil { waitMillis = min(waitMillis, 20) }
            var polled = [pollfd(fd: control.wakeRead, events: Int16(POLLIN), revents: 0)]
            if descriptors.outputRead >= 0 {
                polled.append(pollfd(fd: descriptors.outputRead, events: Int16(POLLIN), revents: 0))
            }
            if descriptors.stdinWrite >= 0 {
                polled.append(pollfd(fd: descriptors.stdinWrite, events: Int16(POLLOUT), revents: 0))
            }
            let ready = poll(&polled, nfds_t(polled.count), waitMillis)
            if ready <= 0 { continue loop }  // timeout or EINTR: the loop head re-evaluates
            for entry in polled where entry.revents != 0 {
                if entry.fd == control.wakeRead {
                    drainWakeups(control.wakeRead, &buffer)
                } else if entry.fd == descriptors.outputRead {
                    let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        output.append(buffer[0..<count])
                    } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                        descriptors.closeOutput()
                    }
                } else if entry.fd == descriptors.stdinWrite {
                    let count = pendingInput.withUnsafeBytes { write(entry.fd, $0.baseAddress, $0.count) }
                    if count > 0 { pendingInput = pendingInput.dropFirst(count) }
                    // Done, or the child closed its standard input (EPIPE): closing gives it end of file.
                    if pendingInput.isEmpty || (count < 0 && errno != EAGAIN && errno != EINTR) {
                        descriptors.closeStdin()
                    }
                }
            }
        }

        // What the process wrote before exiting is still in the pipe. Read what is there now, without waiting
        // for end of file (a process left behind may hold the pipe open) and without letting one that keeps
        // writing hold us here.
        var drained = 0
        while descriptors.outputRead >= 0 && drained < 1 << 20 {
            let count = buffer.withUnsafeMutableBytes { read(descriptors.outputRead, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            output.append(buffer[0..<count])
            drained += count
        }

        let termination: ProcessTermination
        switch phase {
        case .running:
            let code = status ?? 0
            termination = exitedNormally(code) ? .exited(exitStatus(code)) : .signaled(terminatingSignal(code))
        case .terminating:
            termination = .timedOut(cancelled: cancelled, killed: false)
        case .killed:
            termination = .timedOut(cancelled: cancelled, killed: true)
        }
        return ProcessOutcome(
            termination: termination,
            output: output.text,
            tookNanos: monotonicNow() - start,
            pid: pid
        )
    }

    private static func drainWakeups(_ fd: Int32, _ buffer: inout [UInt8]) {
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    // MARK: - Spawning

    private struct SpawnError: Error {
        var reason: String
    }

    /// glibc's POSIX_SPAWN_SETSID (2.26 and later), which Swift's Glibc module does not import.
    private static let spawnSetSID: Int32 = 0x80

    private typealias CloseFromFunction =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32)
        -> Int32

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34 and later), looked up at run time because Swift's
    /// Glibc module does not import it. Without it, descriptors opened without O_CLOEXEC elsewhere in the daemon
    /// would leak into agents.
    private static let addCloseFrom: CloseFromFunction? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else {
            return nil
        }
        return unsafeBitCast(symbol, to: CloseFromFunction.self)
    }()

    /// posix_spawn attributes for a child of the daemon's: default signal handlers, nothing blocked (whatever the
    /// daemon blocks for its own signal handling), in a session of its own (so that signals for the daemon's
    /// process group or terminal do not reach it, and its own group can be killed as one).
    static func withChildAttributes<T>(_ body: (inout posix_spawnattr_t) -> T) -> T {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        // The daemon may run at real-time priority (RealtimeScheduling); what it starts never does.
        posix_spawnattr_setschedpolicy(&attributes, SCHED_OTHER)
        var normal = sched_param(sched_priority: 0)
        posix_spawnattr_setschedparam(&attributes, &normal)
        let flags =
            Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSCHEDULER) | spawnSetSID
        posix_spawnattr_setflags(&attributes, Int16(flags))
        return body(&attributes)
    }

    private static func spawn(_ command: ProcessCommand, stdin: Int32, output: Int32) -> Result<pid_t, SpawnError> {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(command.environment) { _, added in added }
        let argv = ([command.executable] + command.arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        if let addCloseFrom { _ = addCloseFrom(&actions, 3) }

        var pid: pid_t = 0
        let result = withChildAttributes { attributes in
            var result = posix_spawn(&pid, command.executable, &actions, &attributes, argv, envp)
            // ETXTBSY: the program is open for writing, typically by a process forked (by another thread) while it
            // was being written, which holds the descriptor until its own exec. That passes in moments.
            for _ in 0..<10 where result == ETXTBSY {
                usleep(10_000)
                result = posix_spawn(&pid, command.executable, &actions, &attributes, argv, envp)
            }
            return result
        }
        guard result == 0 else { return .failure(SpawnError(reason: errnoText(result))) }
        return .success(pid)
    }

    // MARK: - The process group

    /// Whether any process of group `pgid` is alive. Zombies do not count: once their parent has died they are
    /// init's to reap, and on some machines init never does.
    static func processGroupHasLiveMembers(_ pgid: pid_t) -> Bool {
        if kill(-pgid, 0) == -1 && errno == ESRCH { return false }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return true }
        for entry in entries where entry.first?.isNumber == true {
            guard let stat = ProcessStat(pid: entry) else { continue }
            if stat.processGroup == pgid && stat.state != "Z" && stat.state != "X" { return true }
        }
        return false
    }
}

/// The fields of /proc/PID/stat that the runner and its tests need.
struct ProcessStat {
    var state: Character
    var parent: Int32
    var processGroup: Int32

    init?(pid: String) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        // The command name is in parentheses and may itself contain spaces and parentheses: fields start after
        // the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 3, let state = fields[0].first, let parent = Int32(fields[1]),
            let group = Int32(fields[2])
        else { return nil }
        self.state = state
        self.parent = parent
        self.processGroup = group
    }
}

// MARK: - Descriptors

/// The pipes of one run. The supervisor's ends are non-blocking; every descriptor is close-on-exec (the child's
/// ends reach it through dup2, which clears the flag on the copies).
private struct ChildDescriptors {
    var outputRead: Int32 = -1
    var childOutput: Int32 = -1
    var childStdin: Int32 = -1
    var stdinWrite: Int32 = -1

    /// Opens the pipes, or says why it could not.
    mutating func open(withStdin: Bool) -> String? {
        guard let output = makePipe() else { return "pipe: \(errnoText(errno))" }
        (outputRead, childOutput) = output
        setNonBlocking(outputRead)
        if withStdin {
            guard let input = makePipe() else { return "pipe: \(errnoText(errno))" }
            (childStdin, stdinWrite) = input
            setNonBlocking(stdinWrite)
        } else {
            childStdin = Glibc.open("/dev/null", O_RDONLY | O_CLOEXEC)
            guard childStdin >= 0 else { return "/dev/null: \(errnoText(errno))" }
        }
        return nil
    }

    mutating func closeChildEnds() {
        closeDescriptor(&childOutput)
        closeDescriptor(&childStdin)
    }

    mutating func closeOutput() { closeDescriptor(&outputRead) }
    mutating func closeStdin() { closeDescriptor(&stdinWrite) }

    mutating func closeAll() {
        closeChildEnds()
        closeOutput()
        closeStdin()
    }
}

private func closeDescriptor(_ fd: inout Int32) {
    if fd >= 0 { close(fd) }
    fd = -1
}

private func setNonBlocking(_ fd: Int32) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
}

private typealias Pipe2Function = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

/// glibc's pipe2, which Swift's Glibc module does not import. With it, the pipe is close-on-exec from the start,
/// so a program spawned meanwhile by another thread (not through the runner) cannot inherit it.
private let pipe2Function: Pipe2Function? = {
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "pipe2") else { return nil }
    return unsafeBitCast(symbol, to: Pipe2Function.self)
}()

/// A close-on-exec pipe: (read end, write end).
private func makePipe() -> (Int32, Int32)? {
    var ends: [Int32] = [-1, -1]
    if let pipe2Function {
        guard pipe2Function(&ends, O_CLOEXEC) == 0 else { return nil }
    } else {
        guard pipe(&ends) == 0 else { return nil }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
    }
    return (ends[0], ends[1])
}

/// What the waiting thread and task cancellation tell the supervisor, with a pipe to wake it from `poll`.
///
/// The write end is only touched under the lock, so a late `exited` or `cancel` can never write into a descriptor
/// number that has meanwhile been closed and reused.
private final class RunControl: Sendable {
    private struct State {
        var wakeWrite: Int32
        var wakeRead: Int32
        var status: Int32?
        var cancelled = false
    }

    private let state: Mutex<State>
    /// Read only by the supervising thread, which closes it in `finish`.
    let wakeRead: Int32

    init?() {
        guard let (read, write) = makePipe() else { return nil }
        setNonBlocking(read)
        setNonBlocking(write)
        wakeRead = read
        state = Mutex(State(wakeWrite: write, wakeRead: read))
    }

    var snapshot: (status: Int32?, cancelled: Bool) {
        state.withLock { ($0.status, $0.cancelled) }
    }

    /// The process was reaped with `status`.
    func exited(status: Int32) {
        state.withLock {
            $0.status = status
            Self.wake($0)
        }
    }

    func cancel() {
        state.withLock {
            $0.cancelled = true
            Self.wake($0)
        }
    }

    /// The supervisor is done: later wake-ups go nowhere.
    func finish() {
        state.withLock {
            closeDescriptor(&$0.wakeWrite)
            closeDescriptor(&$0.wakeRead)
        }
    }

    private static func wake(_ state: State) {
        guard state.wakeWrite >= 0 else { return }
        var byte: UInt8 = 1
        _ = write(state.wakeWrite, &byte, 1)  // a full pipe already holds a wake-up
    }
}

// MARK: - Output

/// Keeps the first and the last `limit` bytes of a stream and how long it was, so that memory stays bounded
/// however much a process prints.
struct BoundedOutput {
    let limit: Int
    private var head: [UInt8] = []
    private var tail: [UInt8] = []
    private var total = 0

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        total += bytes.count
        if head.count < limit { head.append(contentsOf: bytes.prefix(limit - head.count)) }
        tail.append(contentsOf: bytes.suffix(limit))
        if tail.count > 2 * limit { tail.removeFirst(tail.count - limit) }
    }

    /// The stream as text: whole if it fits in `limit` bytes, otherwise its head and tail around `[truncated]`.
    var text: String {
        if total <= limit { return String(decoding: head, as: UTF8.self) }
        return OutputText.joined(head: head, tail: tail, limit: limit)
    }
}

/// Output bounding shared by the runner and the agents.
enum OutputText {
    static let marker = "\n[truncated]\n"

    /// `text` within `limit` UTF-8 bytes: whole, or its head and tail around `[truncated]` (the tail usually
    /// says why something failed; the head, what was being done).
    static func truncated(_ text: String, limit: Int = ProcessRunner.outputLimit) -> String {
        let bytes = Array(text.utf8)
        if bytes.count <= limit { return text }
        return joined(head: bytes, tail: bytes, limit: limit)
    }

    /// The first bytes of `head` and the last bytes of `tail`, cut at character boundaries, around the marker.
    /// `head` and `tail` must come from a stream longer than `limit`, so that the two parts do not overlap.
    static func joined(head: [UInt8], tail: [UInt8], limit: Int) -> String {
        let room = max(0, limit - marker.utf8.count)
        var headEnd = min(head.count, room / 2)
        // Do not split a character: back off while the next byte continues one.
        while headEnd > 0 && headEnd < head.count && head[headEnd] & 0xC0 == 0x80 { headEnd -= 1 }
        var tailStart = max(0, tail.count - (room - headEnd))
        while tailStart < tail.count && tail[tailStart] & 0xC0 == 0x80 { tailStart += 1 }
        return String(decoding: head[..<headEnd], as: UTF8.self) + marker
            + String(decoding: tail[tailStart...], as: UTF8.self)
    }
}

func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

private func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGTERM: "SIGTERM"
    case SIGKILL: "SIGKILL"
    case SIGINT: "SIGINT"
    case SIGHUP: "SIGHUP"
    case SIGPIPE: "SIGPIPE"
    case SIGSEGV: "SIGSEGV"
    case SIGABRT: "SIGABRT"
    case SIGBUS: "SIGBUS"
    default: "signal \(signal)"
    }
}

// The W* macros of <sys/wait.h>, which Swift does not import.
private func exitedNormally(_ status: Int32) -> Bool { status & 0x7F == 0 }
private func exitStatus(_ status: Int32) -> Int32 { (status >> 8) & 0xFF }
private func terminatingSignal(_ status: Int32) -> Int32 { status & 0x7F }
