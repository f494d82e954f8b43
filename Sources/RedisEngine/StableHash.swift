/// A hash that is the same in every process and every version (Swift's `Hasher` is seeded per
/// process): for choosing a link, a partition, anything nodes must agree on.
enum StableHash {
    /// 64-bit FNV-1a of `text`'s UTF-8.
    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
