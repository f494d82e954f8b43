import ChatCore

/// A fresh presence backend and a way to move its time forward by at least a duration.
public struct PresenceHarness: ConformanceHarness {
    public let presence: any Presence
    public let advance: @Sendable (Duration) async throws -> Void
    public let teardown: @Sendable () async -> Void
    public init(
        presence: any Presence, advance: @escaping @Sendable (Duration) async throws -> Void,
        teardown: @escaping @Sendable () async -> Void
    ) {
        self.presence = presence
        self.advance = advance
        self.teardown = teardown
    }
}

public typealias PresenceFactory = @Sendable () async throws -> PresenceHarness

/// The ``Presence`` contract as checks.
public enum PresenceConformance {
    public static let checks: [ConformanceCheck<PresenceFactory>] = [
        .init("online on the first connection, offline after the last", onlineOffline),
        .init("entries expire after their TTL unless refreshed", expiry),
        .init("unknown connections are no-ops", unknownConnections),
    ]

    static let node = NodeID("node-a")

    static func with(_ factory: PresenceFactory, _ body: (PresenceHarness) async throws -> Void) async throws {
        try await using(try await factory()) { try await body($0) }
    }

    static func onlineOffline(_ factory: PresenceFactory) async throws {
        try await with(factory) { harness in
            let presence = harness.presence
            let ann = UserID(uniqueName("ann"))!
            let phone = ConnectionID(uniqueName("phone")), laptop = ConnectionID(uniqueName("laptop"))
            try checkEqual(try await presence.connect(phone, user: ann, node: node, ttl: .seconds(30)), .online(ann))
            try checkEqual(try await presence.connect(laptop, user: ann, node: node, ttl: .seconds(30)), nil, "second device")
            try checkEqual(try await presence.status(of: [ann]).first?.online, true)
            try checkEqual(try await presence.disconnect(phone, user: ann), nil, "one device left")
            try checkEqual(try await presence.status(of: [ann]).first?.online, true)
            guard case .offline(let user, _) = try await presence.disconnect(laptop, user: ann) else {
                throw ConformanceFailure(message: "expected offline after the last connection", file: #filePath, line: #line)
            }
            try checkEqual(user, ann)
            let status = try await presence.status(of: [ann]).first
            try checkEqual(status?.online, false)
            try check(status?.lastSeen != nil, "last seen kept")
            let stranger = UserID(uniqueName("nobody"))!
            try checkEqual(try await presence.status(of: [stranger]), [UserPresence(user: stranger, online: false, lastSeen: nil)])
        }
    }

    static func expiry(_ factory: PresenceFactory) async throws {
        try await with(factory) { harness in
            let presence = harness.presence
            let bob = UserID(uniqueName("bob"))!, cat = UserID(uniqueName("cat"))!
            let bobConnection = ConnectionID(uniqueName("b")), catConnection = ConnectionID(uniqueName("c"))
            _ = try await presence.connect(bobConnection, user: bob, node: node, ttl: .seconds(2))
            _ = try await presence.connect(catConnection, user: cat, node: node, ttl: .seconds(2))
            try await harness.advance(.milliseconds(1500))
            // A long TTL on the refresh: engines on real time (Redis) get a wide margin for cat, while bob,
            // never refreshed, is past his 2 s once time moves on by at least another second.
            try await presence.heartbeat([(catConnection, cat)], node: node, ttl: .seconds(30))
            try await harness.advance(.seconds(1))
            let transitions = try await presence.expire()
            try checkEqual(transitions.map(\.user), [bob], "only the entry without heartbeat expires")
            let status = try await presence.status(of: [bob, cat])
            try checkEqual(status.map(\.online), [false, true])
            try checkEqual(try await presence.disconnect(bobConnection, user: bob), nil, "already expired")
        }
    }

    static func unknownConnections(_ factory: PresenceFactory) async throws {
        try await with(factory) { harness in
            let ghost = UserID(uniqueName("ghost"))!
            try checkEqual(try await harness.presence.disconnect(ConnectionID(uniqueName("none")), user: ghost), nil)
            try await harness.presence.heartbeat([(ConnectionID(uniqueName("none")), ghost)], node: node, ttl: .seconds(1))
            try checkEqual(try await harness.presence.status(of: [ghost]).first?.online, false)
        }
    }
}
