/// A key space split over hash tags so a Redis Cluster spreads it over its shards while each script's
/// keys stay in one slot: one partition is `PREFIX:{NAME}` (the keys of every earlier version, on one
/// server), several are `PREFIX:{NAME:0}` … `PREFIX:{NAME:K-1}`, and a key's partition is a stable
/// hash of it, the same on every node. The count must be the same on every node of a deployment.
struct HashTagPartitions: Sendable {
    /// Partitions on a Redis Cluster: enough to spread over any sensible number of shards, few enough
    /// that an operation over all of them (a sweep, stats: one script each, pipelined) stays cheap.
    static let onCluster = 16

    /// Each partition's base key.
    let bases: [String]

    init(prefix: String, name: String, count: Int) {
        bases = count <= 1 ? ["\(prefix):{\(name)}"] : (0..<count).map { "\(prefix):{\(name):\($0)}" }
    }

    /// The index of the partition `key` lives in.
    func index(of key: String) -> Int {
        bases.count == 1 ? 0 : Int(StableHash.fnv1a(key) % UInt64(bases.count))
    }

    /// The base key of the partition `key` lives in.
    func base(of key: String) -> String { bases[index(of: key)] }
}
