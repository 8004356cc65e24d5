import Foundation
import Glibc

/// A Linux watchdog device (`/dev/watchdog`: a BMC's, or the `softdog` module's), fed by the guard, so that the host
/// resets if the guard itself stops (hung, killed, or unable to take the group down), as SBD and Patroni's watchdog
/// do. Opening the device starts it; each write feeds it; writing `V` before closing stops it (the "magic close"),
/// which the guard does only once the group is known to be down here or handed over.
public final class HardwareWatchdog: Sendable {
    public let path: String
    private let fd: Int32

    /// Opens the device and asks for `timeout` seconds (the device may round it). Throws a one-line reason.
    public init(path: String, timeout: Int32) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw GuardSetupError("cannot open the watchdog \(path): \(String(cString: strerror(errno)))")
        }
        var seconds = timeout
        // WDIOC_SETTIMEOUT = _IOWR('W', 6, int); a device or file that does not take it keeps its own timeout.
        _ = ioctl(fd, 0xC004_5706, &seconds)
    }

    /// Feeds it (the host keeps running for another timeout).
    public func keepAlive() { _ = write(fd, "\0", 1) }

    /// Stops it and closes it: the host no longer depends on this process.
    public func disarm() {
        _ = write(fd, "V", 1)
        close(fd)
    }

    /// Closes it without stopping it: the host resets at the timeout unless someone else feeds it.
    public func abandon() { close(fd) }
}
