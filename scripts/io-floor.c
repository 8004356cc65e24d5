// What an idle node's input and output cost on this machine without servha: the same system calls and thread
// hand-offs a daemon makes at default timings, and nothing else (no coordinator, no log, no authentication).
// Every 20 ms it sends a heartbeat-sized datagram on each of two UDP sockets, hands a read of the peer's slot to
// a reader thread (open, pread 1 KiB, close), and every other tick a write of its own slot to a writer thread
// (open with O_DSYNC, pwrite 512 bytes, close); it receives the peer's datagrams as they come, in ppoll with the
// next tick as the timeout. Run two, each the other's peer: scripts/bench-io-floor.sh.
//
// Usage: io-floor LOCAL_ADDRESS PEER_ADDRESS PORT OWN_SLOT PEER_SLOT
// Environment: IO_FLOOR_TICK_OFFSET_US=N puts the ticks on the 20 ms grid of CLOCK_MONOTONIC plus N µs (two
// processes then tick at a chosen distance); IO_FLOOR_NO_DSYNC=1 writes the slot without O_DSYNC.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { interval_ns = 20000000, channels = 2 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reads_queued = PTHREAD_COND_INITIALIZER, writes_queued = PTHREAD_COND_INITIALIZER;
static int reads, writes;
static const char *own_slot, *peer_slot;

static void take(int *jobs, pthread_cond_t *queued) {
    pthread_mutex_lock(&lock);
    while (*jobs == 0) pthread_cond_wait(queued, &lock);
    *jobs -= 1;
    pthread_mutex_unlock(&lock);
}

static void *reader(void *unused) {
    char buffer[1024];
    for (;;) {
        take(&reads, &reads_queued);
        int fd = open(peer_slot, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (pread(fd, buffer, sizeof buffer, 0) < 0) perror("pread");
            close(fd);
        }
    }
    return unused;
}

static void *writer(void *unused) {
    char record[512];
    memset(record, 1, sizeof record);
    for (unsigned long counter = 0;; counter++) {
        take(&writes, &writes_queued);
        int fd = open(own_slot, O_WRONLY | O_CREAT | (getenv("IO_FLOOR_NO_DSYNC") ? 0 : O_DSYNC) | O_CLOEXEC, 0644);
        if (fd < 0) { perror("open"); continue; }
        record[0] = (char)counter;
        if (pwrite(fd, record, sizeof record, (off_t)(counter % 2) * 512) != sizeof record) perror("pwrite");
        close(fd);
    }
    return unused;
}

static long long monotonic_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: io-floor LOCAL_ADDRESS PEER_ADDRESS PORT OWN_SLOT PEER_SLOT\n");
        return 2;
    }
    own_slot = argv[4];
    peer_slot = argv[5];
    int port = atoi(argv[3]), sockets[channels];
    struct sockaddr_in peers[channels];
    for (int i = 0; i < channels; i++) {
        struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(port + i)};
        if (inet_pton(AF_INET, argv[1], &local.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[1]); return 2; }
        sockets[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (bind(sockets[i], (struct sockaddr *)&local, sizeof local) != 0) { perror("bind"); return 1; }
        peers[i] = local;
        if (inet_pton(AF_INET, argv[2], &peers[i].sin_addr) != 1) { fprintf(stderr, "bad address %s\n", argv[2]); return 2; }
    }
    pthread_t thread;
    pthread_create(&thread, NULL, reader, NULL);
    pthread_create(&thread, NULL, writer, NULL);
    char packet[120], incoming[2048];
    memset(packet, 7, sizeof packet);
    long long next = monotonic_ns();
    const char *offset = getenv("IO_FLOOR_TICK_OFFSET_US");
    if (offset) next = (next / interval_ns + 2) * interval_ns + atoll(offset) * 1000;
    for (unsigned long tick = 0;;) {
        long long left = next - monotonic_ns();
        if (left <= 0) {
            for (int i = 0; i < channels; i++)
                sendto(sockets[i], packet, sizeof packet, 0, (struct sockaddr *)&peers[i], sizeof peers[i]);
            pthread_mutex_lock(&lock);
            reads += 1;
            pthread_cond_signal(&reads_queued);
            if (tick++ % 2 == 0) {
                writes += 1;
                pthread_cond_signal(&writes_queued);
            }
            pthread_mutex_unlock(&lock);
            next += interval_ns;
            continue;
        }
        struct pollfd ready[channels];
        for (int i = 0; i < channels; i++) ready[i] = (struct pollfd){.fd = sockets[i], .events = POLLIN};
        struct timespec timeout = {left / 1000000000, left % 1000000000};
        ppoll(ready, channels, &timeout, NULL);
        for (int i = 0; i < channels; i++)
            while (recv(sockets[i], incoming, sizeof incoming, 0) > 0) {}
    }
}
