import ChatCore
import RedisClient

/// The ``Cache`` on Redis: one string key per value (`PREFIX:list:{user}`, `SET … PX` for the TTL)
/// and beside it a generation key (`PREFIX:list:{user}:gen`, same hash slot) that every invalidation
/// sets to a fresh random number. A ticket is the generation a read saw; the fill script stores only
/// while the generation is still that one.
///
/// A value stored with dependencies carries their generation keys and the generations their tickets
/// saw (see ``StoredValue``); a read compares them with the current ones (one more `MGET`) and
/// reads a miss when any moved. An invalidation is therefore two commands per key it names, however
/// many values depend on it.
///
/// Generation keys expire `generationTTL` after their last invalidation, which must exceed the
/// longest time between a reader's `read` and its `fill` (a store read, bounded by its timeout) and
/// the TTL of any value that depends on them (``generationLifetime`` is what the node checks its
/// list TTL against): a generation that expired reads as 0 again, like one never set, and a value
/// that saw it as 0 must be gone by then. Generations are random, not counted, so one that expired
/// and was set again never repeats an earlier reading.
public struct RedisCache: Cache {
    static let fillScript = RedisScript(String(decoding: PackageResources.cache_fill_lua, as: UTF8.self))
    /// How long a generation key lives after its last invalidation, by default.
    public static let generationLifetime: Duration = .seconds(600)
    let client: any RedisCommands
    private let prefix: String
    private let generationTTL: Duration

    public init(client: any RedisCommands, prefix: String, generationTTL: Duration = RedisCache.generationLifetime) {
        self.client = client
        self.prefix = prefix
        self.generationTTL = generationTTL
    }

    public func read(_ key: CacheKey) async throws -> CacheRead {
        try await mappingRedisErrors {
            let name = key.name(prefix: prefix)
            let reply = try await client.execute(["MGET", RedisArgument(name), RedisArgument(Self.generation(of: name))])
            guard let pair = reply.array, pair.count == 2 else { throw RedisError.protocolViolation("MGET gave \(reply)") }
            let ticket = CacheTicket(generation: try Self.generation(pair[1]))
            guard let bytes = pair[0].bytes, let stored = StoredValue(decoding: bytes) else { return CacheRead(value: nil, ticket: ticket) }
            guard !stored.dependencies.isEmpty else { return CacheRead(value: stored.payload, ticket: ticket) }
            let now = try await generations(stored.dependencies.map(\.generationKey))
            let current = zip(stored.dependencies, now).allSatisfy { $0.generation == $1 }
            return CacheRead(value: current ? stored.payload : nil, ticket: ticket)
        }
    }

    public func tickets(_ keys: [CacheKey]) async throws -> [CacheTicket] {
        try await mappingRedisErrors {
            try await generations(keys.map { Self.generation(of: $0.name(prefix: prefix)) }).map(CacheTicket.init(generation:))
        }
    }

    public func fill(_ key: CacheKey, _ value: [UInt8], ttl: Duration, ticket: CacheTicket, dependencies: [CacheDependency]) async throws
        -> Bool
    {
        try await mappingRedisErrors {
            let name = key.name(prefix: prefix)
            let stored = StoredValue(
                dependencies: dependencies.map {
                    .init(generationKey: Self.generation(of: $0.key.name(prefix: prefix)), generation: $0.ticket.generation)
                },
                payload: value)
            let reply = try await client.run(
                Self.fillScript, keys: [RedisArgument(name), RedisArgument(Self.generation(of: name))],
                arguments: [RedisArgument(String(ticket.generation)), RedisArgument(stored.encoded()), RedisArgument(ttl.milliseconds)])
            return reply == .integer(1)
        }
    }

    public func invalidate(_ keys: [CacheKey]) async throws {
        guard !keys.isEmpty else { return }
        try await mappingRedisErrors {
            for reply in try await client.send(invalidation(of: keys)) { _ = try reply.checked() }
        }
    }

    /// The commands that invalidate `keys`, for ``invalidate(_:)`` and for a pipeline that publishes
    /// after them (``RedisChangeFeed``). The generation moves before the value goes: a fill between
    /// the two holds an old ticket and is refused. Commands per key: keys of different users may live
    /// on different shards.
    func invalidation(of keys: [CacheKey]) -> [RedisCommand] {
        let ttl = RedisArgument(generationTTL.milliseconds)
        var random = SecureRandom.Generator()
        return keys.flatMap { key -> [RedisCommand] in
            let name = key.name(prefix: prefix)
            let generation = RedisArgument(Int64.random(in: 1...(1 << 62), using: &random))
            return [["SET", RedisArgument(Self.generation(of: name)), generation, "PX", ttl], ["DEL", RedisArgument(name)]]
        }
    }

    /// The current generations of the generation keys `names` (0 for one not set).
    private func generations(_ names: [String]) async throws -> [Int64] {
        guard !names.isEmpty else { return [] }
        let reply = try await client.execute(["MGET"] + names.map { RedisArgument($0) })
        guard let values = reply.array, values.count == names.count else { throw RedisError.protocolViolation("MGET gave \(reply)") }
        return try values.map(Self.generation)
    }

    private static func generation(_ reply: RESPValue) throws -> Int64 {
        if reply == .null { return 0 }
        guard let generation = reply.string.flatMap({ Int64($0) }) else {
            throw RedisError.protocolViolation("a cache generation is not a number: \(reply)")
        }
        return generation
    }

    private static func generation(of name: String) -> String { name + ":gen" }
}

/// What a cache key holds on Redis: a format byte (1), the dependencies (a big-endian UInt32 count,
/// then per dependency a UInt16 length, the generation key's name and its Int64 generation), then
/// the value. Anything else (a value written in another format) reads as a miss.
struct StoredValue: Equatable {
    struct Dependency: Equatable {
        var generationKey: String
        var generation: Int64
    }

    static let format: UInt8 = 1
    var dependencies: [Dependency]
    var payload: [UInt8]

    init(dependencies: [Dependency], payload: [UInt8]) {
        self.dependencies = dependencies
        self.payload = payload
    }

    init?(decoding bytes: [UInt8]) {
        var reader = ByteReader(bytes: bytes)
        guard reader.byte() == Self.format, let count = reader.integer(UInt32.self) else { return nil }
        var dependencies: [Dependency] = []
        for _ in 0..<count {
            guard let length = reader.integer(UInt16.self), let name = reader.take(Int(length)),
                let generation = reader.integer(Int64.self)
            else { return nil }
            dependencies.append(Dependency(generationKey: String(decoding: name, as: UTF8.self), generation: generation))
        }
        self.init(dependencies: dependencies, payload: reader.rest())
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = [Self.format]
        bytes.reserveCapacity(payload.count + 5 + dependencies.count * 48)
        Self.append(UInt32(dependencies.count), to: &bytes)
        for dependency in dependencies {
            let name = Array(dependency.generationKey.utf8.prefix(Int(UInt16.max)))
            Self.append(UInt16(name.count), to: &bytes)
            bytes += name
            Self.append(dependency.generation, to: &bytes)
        }
        return bytes + payload
    }

    private static func append<I: FixedWidthInteger>(_ value: I, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes += $0 }
    }

    private struct ByteReader {
        let bytes: [UInt8]
        var index = 0

        mutating func byte() -> UInt8? { take(1)?.first }

        mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, bytes.count - index >= count else { return nil }
            defer { index += count }
            return bytes[index..<index + count]
        }

        mutating func integer<I: FixedWidthInteger>(_: I.Type) -> I? {
            guard let slice = take(MemoryLayout<I>.size) else { return nil }
            return slice.reduce(I.zero) { ($0 << 8) | I($1) }
        }

        func rest() -> [UInt8] { Array(bytes[index...]) }
    }
}
