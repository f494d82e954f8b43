/// A Redis Cluster hash slot (0..<16384): where a key lives, by the cluster specification's rule.
///
/// Guarantees: the slot of a key is CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection)
/// of its hash tag modulo 16384; the hash tag is what lies between the first `{` and the first `}`
/// after it, when that is not empty, else the whole key. So keys that share a non-empty tag
/// (`{u:ann}:conns`, `{u:ann}:seen`) share a slot, and a script or `MGET` over them is one shard's.
public struct ClusterSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Slots in a cluster.
    public static let count = 16384

    public let value: Int

    /// A slot by number; nil outside 0..<16384.
    public init?(_ value: Int) {
        guard (0..<Self.count).contains(value) else { return nil }
        self.value = value
    }

    /// The slot of `key` (its bytes: a key is binary-safe).
    public init(key: some Collection<UInt8>) {
        value = Int(Self.crc16(Self.hashTag(of: key)) & 0x3FFF)
    }

    /// The slot of `key`'s UTF-8 bytes.
    public init(key: String) { self.init(key: Array(key.utf8)) }

    /// The part of `key` that is hashed: the bytes between the first `{` and the next `}`, when there
    /// are any; else all of it.
    public static func hashTag<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else { return key[...] }
        return key[afterOpen..<close]
    }

    /// CRC16-XMODEM, the checksum the cluster specification names (`crc16("123456789") == 0x31C3`).
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)] }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }

    public static func < (left: ClusterSlot, right: ClusterSlot) -> Bool { left.value < right.value }

    public var description: String { "slot \(value)" }
}
