import Glibc

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
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func fail(_ error: EventLogError) {
        pthread_mutex_lock(mutex)
        failure = error
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    func wait(for sequence: UInt64) throws {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while durableThrough < sequence {
            if let failure { throw failure }
            pthread_cond_wait(condition, mutex)
        }
    }
}
