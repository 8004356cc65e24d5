"""Who holds the group, sampled: every INTERVAL seconds until SIGTERM, one line per sample to OUT:

    time_us  node-a:postgres node-a:vip  node-b:postgres node-b:vip      (1 or 0 each)

    holders.py OUT INTERVAL VIP NAMESPACE_A NAMESPACE_B

"Postgres" is a postmaster (a postgres process whose parent is not postgres) whose network namespace is the
node's; this process sees every process (it runs in the host's PID namespace), and /proc tells where each one
lives. "VIP" is the address on the node's eth0, asked of the kernel through a socket made in that namespace
(no `ip` process per sample, so that a sample takes a few milliseconds).
"""

import ctypes
import fcntl
import os
import signal
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
SIOCGIFCONF = 0x8912
IFREQ_SIZE = 40  # struct ifreq on x86_64: a 16-byte name and a 24-byte union (here a sockaddr_in)


def namespace_inode(name):
    return os.stat(f"/run/netns/{name}").st_ino


def postmaster_namespaces():
    """The network-namespace inodes of every running postmaster."""
    comms = {}
    parents = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm is in parentheses and may contain spaces; the parent's pid is the second field after it.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        comms[pid] = comm
        parents[pid] = stat[stat.rindex(")") + 2 :].split()[1]
    found = set()
    for pid, comm in comms.items():
        if comm != "postgres" or comms.get(parents[pid]) == "postgres":
            continue
        try:
            link = os.readlink(f"/proc/{pid}/ns/net")  # net:[4026532...]
        except OSError:
            continue
        found.add(int(link[5:-1]))
    return found


def socket_in(namespace):
    """A UDP socket belonging to the network namespace (a socket keeps the namespace it was made in)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {namespace}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if libc.setns(home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")
        return sock
    finally:
        os.close(home)
        os.close(target)


def holds_vip(sock, vip):
    """Whether `vip` is on eth0, from SIOCGIFCONF (every IPv4 address of the namespace, with its label)."""
    space = 64 * IFREQ_SIZE
    buffer = ctypes.create_string_buffer(space)
    ifconf = struct.pack("iL", space, ctypes.addressof(buffer))
    length = struct.unpack("iL", fcntl.ioctl(sock.fileno(), SIOCGIFCONF, ifconf))[0]
    wanted = socket.inet_aton(vip)
    for offset in range(0, length, IFREQ_SIZE):
        name = buffer.raw[offset : offset + 16].split(b"\0", 1)[0]
        address = buffer.raw[offset + 20 : offset + 24]  # sockaddr_in: family, port, then the address
        if name == b"eth0" and address == wanted:
            return True
    return False


def main(argv):
    if len(argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    out, interval, vip, ns_a, ns_b = argv[1], float(argv[2]), argv[3], argv[4], argv[5]
    inodes = (namespace_inode(ns_a), namespace_inode(ns_b))
    sockets = (socket_in(ns_a), socket_in(ns_b))
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    with open(out, "w", buffering=1) as f:
        next_at = time.monotonic()
        while not stopping:
            running = postmaster_namespaces()
            row = [
                int(inodes[0] in running),
                int(holds_vip(sockets[0], vip)),
                int(inodes[1] in running),
                int(holds_vip(sockets[1], vip)),
            ]
            f.write(f"{time.time_ns() // 1000} {' '.join(map(str, row))}\n")
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
