import ChatCore
import RedisClient

/// The ``Cache`` on Redis: one string key per value (`PREFIX:list:{user}`), `SET … PX` for the TTL.
public struct RedisCache: Cache {
    private let client: RedisClient
    private let prefix: String

    public init(client: RedisClient, prefix: String) {
        self.client = client
        self.prefix = prefix
    }

    public func get(_ key: CacheKey) async throws -> [UInt8]? {
        try await mappingRedisErrors {
            let reply = try await client.execute(["GET", RedisArgument(key.name(prefix: prefix))])
            return reply == .null ? nil : reply.bytes
        }
    }

    public func set(_ key: CacheKey, _ value: [UInt8], ttl: Duration) async throws {
        try await mappingRedisErrors {
            try await client.execute(["SET", RedisArgument(key.name(prefix: prefix)), RedisArgument(value), "PX", RedisArgument(max(ttl.wholeMilliseconds, 1))])
        }
    }

    public func delete(_ keys: [CacheKey]) async throws {
        guard !keys.isEmpty else { return }
        // One DEL per key, pipelined: keys of different users may live on different cluster shards.
        try await mappingRedisErrors {
            for reply in try await client.send(keys.map { ["DEL", RedisArgument($0.name(prefix: prefix))] }) { _ = try reply.checked() }
        }
    }
}
