import Foundation
import Synchronization

/// Runs `body` on `count` dedicated threads and returns their results in order (benchmarks of the blocking API).
enum ProducerThreads {
    static func run<T: Sendable>(count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
        let results = Mutex<[Int: Result<T, any Error>]>([:])
        let done = DispatchSemaphore(value: 0)
        for index in 0..<count {
            let thread = Thread {
                let result = Result { try body(index) }
                results.withLock { $0[index] = result }
                done.signal()
            }
            thread.start()
        }
        for _ in 0..<count { done.wait() }
        return try results.withLock { all in try (0..<count).map { try all[$0]!.get() } }
    }
}
