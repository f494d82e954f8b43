#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Bytes from the system's secure random source, read ahead a pool at a time: one `getrandom(2)`
/// call (glibc's `arc4random_buf`) per ``poolSize`` bytes instead of one per caller. A send takes
/// about 40 bytes (its message id, its cache generation), so the pool costs a syscall per hundred
/// sends where it cost two per send (bench/RESULTS.md, issue 16's nineteenth step).
///
/// Guarantees: every byte handed out comes from the system's secure source and is handed out once;
/// callers on any thread are served under one lock held only for the copy.
public enum SecureRandom {
    /// Bytes read from the system at a time.
    public static let poolSize = 4_096

    private struct Pool: ~Copyable {
        var bytes = [UInt8](repeating: 0, count: SecureRandom.poolSize)
        /// The next unused byte; `bytes.count` when empty.
        var next = SecureRandom.poolSize
    }

    private static let pool = Mutex(Pool())

    /// Fills `bytes` with fresh random bytes.
    public static func fill(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { fill($0) }
    }

    /// A uniformly random value (for `T.random(in:using:)` through ``Generator``).
    public static func next<T: FixedWidthInteger>(_: T.Type = T.self) -> T {
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { fill($0) }
        return value
    }

    private static func fill(_ target: UnsafeMutableRawBufferPointer) {
        guard target.count < poolSize / 4 else { return system(target) }
        pool.withLock { pool in
            var filled = 0
            while filled < target.count {
                if pool.next == pool.bytes.count {
                    pool.bytes.withUnsafeMutableBytes { system($0) }
                    pool.next = 0
                }
                let count = min(target.count - filled, pool.bytes.count - pool.next)
                pool.bytes.withUnsafeMutableBytes { source in
                    // Copied out, then wiped: a byte is never handed out twice.
                    let from = source.baseAddress! + pool.next
                    (target.baseAddress! + filled).copyMemory(from: from, byteCount: count)
                    from.initializeMemory(as: UInt8.self, repeating: 0, count: count)
                }
                pool.next += count
                filled += count
            }
        }
    }

    /// Straight from the system: one call for the whole buffer.
    private static func system(_ target: UnsafeMutableRawBufferPointer) {
        guard let base = target.baseAddress, target.count > 0 else { return }
        #if canImport(Glibc)
        arc4random_buf(base, target.count)
        #else
        var generator = SystemRandomNumberGenerator()
        for index in 0..<target.count { target[index] = generator.next() }
        #endif
    }

    /// A `RandomNumberGenerator` over the pool: `Int64.random(in: range, using: &generator)` without a
    /// system call of its own.
    public struct Generator: RandomNumberGenerator {
        public init() {}
        public mutating func next() -> UInt64 { SecureRandom.next(UInt64.self) }
    }
}
