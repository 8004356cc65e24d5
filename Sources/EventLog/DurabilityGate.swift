import Glibc
import Synchronization

/// Where threads blocked in `appendDurableBlocking` wait: one broadcast per sync wakes them all, and each
/// checks whether its record is now durable.
///
/// A synchronization primitive (pthread mutex and condition variable); its two fields are only touched under
/// its own mutex.
final class DurabilityGate: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var durableThrough: UInt64 = 0
    private var failure: EventLogError?
    /// `durableThrough`, readable without the mutex, so that a waiter can spin briefly before it sleeps.
    private let published = Atomic<UInt64>(0)
    private let failed = Atomic<Bool>(false)

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    func publish(durableThrough sequence: UInt64) {
        pthread_mutex_lock(mutex)
        durableThrough = max(durableThrough, sequence)
        published.store(durableThrough, ordering: .releasing)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func fail(_ error: EventLogError) {
        pthread_mutex_lock(mutex)
        failure = error
        failed.store(true, ordering: .releasing)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Waits until `sequence` is durable. Spins (yielding the CPU) for up to `spinNanos` first: a group commit
    /// takes tens of microseconds, and being woken from a sleep costs about as much again, for every waiter.
    func wait(for sequence: UInt64, spinNanos: UInt64) throws {
        if spinNanos > 0 {
            let deadline = monotonicNow() &+ spinNanos
            while published.load(ordering: .acquiring) < sequence && !failed.load(ordering: .acquiring) {
                if monotonicNow() >= deadline { break }
                sched_yield()
            }
            if published.load(ordering: .acquiring) >= sequence { return }
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while durableThrough < sequence {
            if let failure { throw failure }
            pthread_cond_wait(condition, mutex)
        }
    }
}
