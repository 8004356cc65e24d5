"""Notes when the hypervisor takes the machine's CPUs away: every 5 ms, the steal counter of /proc/stat (USER_HZ
ticks of 10 ms, summed over the CPUs); one line per sample where it grew, until SIGTERM:

    wall_time_us  ticks_stolen_since_the_last_sample

    steal-sampler.py OUT

A stall of the whole machine stops this sampler too: it shows as one sample, after the stall, with the ticks
stolen during it.
"""

import signal
import sys
import time


def steal():
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


def main():
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    with open(sys.argv[1], "w", buffering=1) as out:
        last = steal()
        while running[0]:
            time.sleep(0.005)
            now = steal()
            if now > last:
                out.write(f"{time.time_ns() // 1000} {now - last}\n")
            last = now


main()
