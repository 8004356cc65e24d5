#ifndef SERVHA_SYSTEM_SHIM_H
#define SERVHA_SYSTEM_SHIM_H

// What Swift's Glibc module does not export (declarations behind _GNU_SOURCE, or headers it leaves out): for the
// shell thread's loop, a wait on descriptors with a nanosecond timeout and an eventfd to wake it (made through
// syscall(2), so that no feature macro is needed); for the daemon, glibc's mmap threshold.
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/// ppoll(2) without a signal mask: -1 and errno on failure. `timeout` may be NULL (wait for ever).
static inline int servha_ppoll(struct pollfd *fds, unsigned long count, const struct timespec *timeout) {
    struct timespec left;
    if (timeout) left = *timeout;  // the kernel writes the time left back
    return (int)syscall(SYS_ppoll, fds, count, timeout ? &left : (struct timespec *)0, (void *)0, (size_t)8);
}

/// An eventfd, close-on-exec and non-blocking: -1 and errno on failure.
static inline int servha_eventfd(void) {
    return (int)syscall(SYS_eventfd2, 0u, O_CLOEXEC | O_NONBLOCK);
}

/// Allocations of `bytes` and more get pages of their own, given back when freed (mallopt M_MMAP_THRESHOLD; this
/// also stops glibc from raising the threshold to the largest block freed). 1 on success.
static inline int servha_set_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}

#endif
