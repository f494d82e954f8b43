/// A dictionary that never holds more than `capacity` entries: what a node remembers per key to save
/// work (token buckets, rate-limit leases, scheduled notice windows), where forgetting an entry costs
/// only that saving, never correctness.
///
/// Guarantees: `count <= capacity` after every call. A new key is admitted only through
/// ``makeRoom(for:droppingWhere:)``: when the table is full, the entries its caller calls disposable
/// go first (one pass over the table, only when full); whether that made room is the caller's to act
/// on (let the work through without an entry, or ``removeAll()`` and start over). A key already in
/// the table always has room.
public struct BoundedTable<Key: Hashable, Value> {
    public let capacity: Int
    private var entries: [Key: Value] = [:]

    public init(capacity: Int) { self.capacity = max(capacity, 1) }

    public var count: Int { entries.count }

    /// The entry of `key`. Setting a new key needs room first (``makeRoom(for:droppingWhere:)``).
    public subscript(key: Key) -> Value? {
        get { entries[key] }
        set {
            precondition(newValue == nil || entries[key] != nil || entries.count < capacity, "BoundedTable: no room made for a new key")
            entries[key] = newValue
        }
    }

    /// Makes room for `key`: when it is new and the table is full, drops every entry `isDisposable`
    /// says may go. True when `key` may be set now.
    public mutating func makeRoom(for key: Key, droppingWhere isDisposable: (Value) -> Bool) -> Bool {
        guard entries[key] == nil, entries.count >= capacity else { return true }
        entries = entries.filter { !isDisposable($0.value) }
        return entries.count < capacity
    }

    /// Forgets every entry.
    public mutating func removeAll() { entries.removeAll(keepingCapacity: true) }
}

extension BoundedTable: Sendable where Key: Sendable, Value: Sendable {}
