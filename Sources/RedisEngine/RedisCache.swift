import ChatCore
import RedisClient

/// The ``Cache`` on Redis: one string key per value (`PREFIX:list:{user}`, `SET … PX` for the TTL)
/// and beside it a generation counter (`PREFIX:list:{user}:gen`, same hash slot) that every
/// invalidation increments. A ticket is the generation a read saw; the fill script stores only while
/// the generation is still that one.
///
/// Generation keys expire `generationTTL` after their last invalidation, which must exceed the
/// longest time between a reader's `read` and its `fill` (a store read, bounded by its timeout): a
/// counter that expired reads as 0 again, like one never set.
public struct RedisCache: Cache {
    static let fillScript = RedisScript(String(decoding: PackageResources.cache_fill_lua, as: UTF8.self))
    private let client: RedisClient
    private let prefix: String
    private let generationTTL: Duration

    public init(client: RedisClient, prefix: String, generationTTL: Duration = .seconds(600)) {
        self.client = client
        self.prefix = prefix
        self.generationTTL = generationTTL
    }

    public func read(_ key: CacheKey) async throws -> CacheRead {
        try await mappingRedisErrors {
            let name = key.name(prefix: prefix)
            let reply = try await client.execute(["MGET", RedisArgument(name), RedisArgument(Self.generation(of: name))])
            guard let pair = reply.array, pair.count == 2 else { throw RedisError.protocolViolation("MGET gave \(reply)") }
            let generation = pair[1] == .null ? 0 : pair[1].string.flatMap { Int64($0) }
            guard let generation else { throw RedisError.protocolViolation("a cache generation is not a number: \(pair[1])") }
            return CacheRead(value: pair[0] == .null ? nil : pair[0].bytes, ticket: CacheTicket(generation: generation))
        }
    }

    public func fill(_ key: CacheKey, _ value: [UInt8], ttl: Duration, ticket: CacheTicket) async throws -> Bool {
        try await mappingRedisErrors {
            let name = key.name(prefix: prefix)
            let reply = try await client.run(
                Self.fillScript, keys: [RedisArgument(name), RedisArgument(Self.generation(of: name))],
                arguments: [RedisArgument(String(ticket.generation)), RedisArgument(value), RedisArgument(ttl.milliseconds)])
            return reply == .integer(1)
        }
    }

    public func invalidate(_ keys: [CacheKey]) async throws {
        guard !keys.isEmpty else { return }
        // The generation moves before the value goes: a fill between the two holds an old ticket and
        // is refused. Commands per key, pipelined: keys of different users may live on different shards.
        let ttl = RedisArgument(generationTTL.milliseconds)
        let commands = keys.flatMap { key -> [RedisCommand] in
            let name = key.name(prefix: prefix)
            let generation = RedisArgument(Self.generation(of: name))
            return [["INCR", generation], ["PEXPIRE", generation, ttl], ["DEL", RedisArgument(name)]]
        }
        try await mappingRedisErrors {
            for reply in try await client.send(commands) { _ = try reply.checked() }
        }
    }

    private static func generation(of name: String) -> String { name + ":gen" }
}
