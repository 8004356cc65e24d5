"""Where the shared ext4 filesystem is mounted, sampled: every INTERVAL seconds until SIGTERM, one line per sample:

    time_us  a_mounted b_mounted host_mounted  a_sb b_sb host_sb  a_namespaces b_namespaces

    mounts.py OUT INTERVAL MOUNTPOINT NAMESPACE_A NAMESPACE_B DEVICE_A DEVICE_B DEVICE_HOST

a_mounted: an ext4 filesystem is mounted on MOUNTPOINT in the mount namespace of some process of node-a (a process
whose network namespace is NAMESPACE_A: the daemon, its agents, postgres), read from that process's
/proc/PID/mountinfo; every distinct mount namespace among the node's processes is read, not only the daemon's
(a_namespaces counts them). host_mounted: the same in this sampler's own mount namespace, the host's.
a_sb: the kernel holds a live ext4 superblock on DEVICE_A (node-a's path to the LUN), i.e. /sys/fs/ext4/loopN
exists: it does from the mount, in whatever namespace, until the kernel starts tearing the filesystem down (when
the last mount of it goes, e.g. with a dead node's mount namespace; the end of that teardown is lunpath.py free).
host_sb the same for DEVICE_HOST (the root namespace's loop device on the LUN).

This process sees every process (it runs in the host's PID namespace), and /proc tells where each one lives. A
sample takes a few milliseconds (one scan of /proc, one mountinfo per mount namespace).
"""

import os
import signal
import sys
import time


def namespace_inode(name):
    return os.stat(f"/run/netns/{name}").st_ino


def link_inode(pid, kind):
    link = os.readlink(f"/proc/{pid}/ns/{kind}")  # net:[4026532...]
    return int(link[link.index("[") + 1 : -1])


def mounted(mountinfo_path, mountpoint):
    """Whether MOUNTPOINT carries an ext4 mount in that mountinfo (fields: ... 5 mount point ... - fstype ...)."""
    with open(mountinfo_path) as f:
        for line in f:
            fields = line.split()
            if len(fields) < 5 or fields[4] != mountpoint:
                continue
            after = line.split(" - ", 1)
            if len(after) == 2 and after[1].split()[0] == "ext4":
                return True
    return False


def node_mounts(netns, mountpoint):
    """For each node (by network-namespace inode): (mounted anywhere among its mount namespaces, how many)."""
    seen = {inode: {} for inode in netns}  # netns inode -> {mount ns inode: a pid in it}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            net = link_inode(pid, "net")
            if net not in seen:
                continue
            mnt = link_inode(pid, "mnt")
        except (OSError, ValueError):
            continue
        seen[net].setdefault(mnt, pid)
    result = {}
    for net, spaces in seen.items():
        found = False
        for pid in spaces.values():
            try:
                found = found or mounted(f"/proc/{pid}/mountinfo", mountpoint)
            except OSError:
                continue  # the process is gone
        result[net] = (found, len(spaces))
    return result


def main(argv):
    if len(argv) != 9:
        print(__doc__, file=sys.stderr)
        return 2
    out, interval, mountpoint = argv[1], float(argv[2]), argv[3]
    ns_a, ns_b = namespace_inode(argv[4]), namespace_inode(argv[5])
    sysfs = [f"/sys/fs/ext4/{os.path.basename(os.path.realpath(device))}" for device in argv[6:9]]
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    with open(out, "w", buffering=1) as f:
        next_at = time.monotonic()
        while not stopping:
            nodes = node_mounts((ns_a, ns_b), mountpoint)
            host = mounted("/proc/self/mountinfo", mountpoint)
            row = [
                int(nodes[ns_a][0]),
                int(nodes[ns_b][0]),
                int(host),
                *(int(os.path.exists(path)) for path in sysfs),
                nodes[ns_a][1],
                nodes[ns_b][1],
            ]
            f.write(f"{time.time_ns() // 1000} {' '.join(map(str, row))}\n")
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
