#if canImport(Glibc)
import Glibc
#endif

/// Bytes from the system's secure random source, as `SystemRandomNumberGenerator` reads it, but a
/// buffer at a time: on Linux glibc's `arc4random_buf` (one `getrandom(2)` call for the buffer; the
/// generator makes one call per eight bytes).
public enum SecureRandom {
    public static func fill(_ bytes: inout [UInt8]) {
        #if canImport(Glibc)
        bytes.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { arc4random_buf(base, buffer.count) }
        }
        #else
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        #endif
    }
}
