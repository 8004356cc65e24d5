"""One host's path to a shared LUN (a loop device of its own on the LUN's backing file), cut or restored.

    lunpath.py cut DEVICE READY_FILE     arm, write READY_FILE, then cut on SIGUSR1 and exit
    lunpath.py restore DEVICE            the path works again (offset 0: the whole LUN)
    lunpath.py state DEVICE              prints "offset SECTORS" (SECTORS 0 when cut)
    lunpath.py free DEVICE               exit 0 when nothing holds DEVICE (an O_EXCL open succeeds), 1 when
                                         something does (a mounted filesystem, until the kernel has torn it down)

Cutting moves the loop device's window past the end of its backing file (LOOP_SET_STATUS64 with lo_offset beyond
the file's size): the device's capacity becomes 0 and every read or write through it fails with EIO from then on,
while the other hosts' loop devices on the same file go on working. That is what a dead host's HBA does to the
array: nothing that host's kernel still holds (its ext4 superblock, its journal, dirty buffers) reaches the disk any
more. The kernel writes the device's dirty buffers out (sync_blockdev) before it moves the window: those are writes
already issued by the host, as an array would have received them.

`cut` is armed before the host dies (Python starts, the device is opened, SIGUSR1 is blocked), so that firing it
costs only the ioctl (about 15-20 ms here) and not an interpreter's start under load (200-300 ms): the cut must be
done well before the survivor's takeover, which comes about 0.2 s after the death at the default timings.
"""

import errno
import fcntl
import os
import signal
import struct
import sys

LOOP_SET_STATUS64 = 0x4C04
LOOP_GET_STATUS64 = 0x4C05
LOOP_INFO64_SIZE = 232  # struct loop_info64
OFFSET_AT = 24  # lo_device, lo_inode, lo_rdevice (u64 each), then lo_offset and lo_sizelimit (u64 each)
BEYOND = 1 << 40  # past the end of any backing file here


def status(fd):
    buffer = bytearray(LOOP_INFO64_SIZE)
    fcntl.ioctl(fd, LOOP_GET_STATUS64, buffer)
    return buffer


def set_offset(fd, offset):
    buffer = status(fd)
    struct.pack_into("QQ", buffer, OFFSET_AT, offset, 0)
    fcntl.ioctl(fd, LOOP_SET_STATUS64, bytes(buffer))


def sectors(device):
    with open(f"/sys/class/block/{os.path.basename(device)}/size") as f:
        return int(f.read())


def main(argv):
    if len(argv) < 3 or argv[1] not in ("cut", "restore", "state", "free") or (argv[1] == "cut" and len(argv) != 4):
        print(__doc__, file=sys.stderr)
        return 2
    action, device = argv[1], argv[2]
    if action == "free":
        # A mounted filesystem claims its block device exclusively, from the mount until the end of its unmount (the
        # superblock written, the journal closed): only then does an exclusive open succeed. (Its directory in
        # /sys/fs/ext4 goes at the start of the unmount.)
        try:
            os.close(os.open(device, os.O_RDONLY | os.O_EXCL))
        except OSError as error:
            if error.errno == errno.EBUSY:
                return 1
            raise
        return 0
    fd = os.open(device, os.O_RDONLY)
    try:
        if action == "state":
            offset = struct.unpack_from("Q", status(fd), OFFSET_AT)[0]
            print(offset, sectors(device))
        elif action == "restore":
            set_offset(fd, 0)
            if sectors(device) == 0:
                print(f"lunpath: {device} still has no capacity after restore", file=sys.stderr)
                return 1
        else:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
            status(fd)  # a loop device that is not bound fails here, before READY_FILE says it is armed
            with open(argv[3], "w") as f:
                f.write(f"{os.getpid()}\n")
            signal.sigwait({signal.SIGUSR1})
            set_offset(fd, BEYOND)
            if sectors(device) != 0:
                print(f"lunpath: {device} still has capacity after the cut", file=sys.stderr)
                return 1
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
