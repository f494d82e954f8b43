import ChatCore

/// Brokers for several nodes sharing one backend, each delivering to the handler it was made with.
public struct BrokerHarness: ConformanceHarness {
    public let brokers: [any Broker]
    public let teardown: @Sendable () async -> Void
    public init(brokers: [any Broker], teardown: @escaping @Sendable () async -> Void) {
        self.brokers = brokers
        self.teardown = teardown
    }
}

/// Makes one broker per handler, as nodes `node-0`, `node-1`, … on one fresh backend.
public typealias BrokerFactory = @Sendable (_ handlers: [EnvelopeHandler]) async throws -> BrokerHarness

/// The ``Broker`` contract as checks.
public enum BrokerConformance {
    public static let checks: [ConformanceCheck<BrokerFactory>] = [
        .init("a publish reaches every subscribed node, the publisher included", reachesSubscribers),
        .init("unsubscribe stops delivery and subscribe is idempotent", unsubscribeStops),
        .init("publishes arrive in order with every field intact", orderAndFields),
        .init("conversation and user channels are separate", channelsAreSeparate),
    ]

    static func envelope(_ channel: Channel, _ eventID: UInt64, origin: String = "node-0", text: String = "{}") -> Envelope {
        Envelope(channel: channel, kind: .message, origin: NodeID(origin), eventID: eventID, frame: Array(text.utf8))
    }

    static func with(_ factory: BrokerFactory, nodes: Int, _ body: ([any Broker], [Recorder<Envelope>]) async throws -> Void)
        async throws
    {
        let recorders = (0..<nodes).map { _ in Recorder<Envelope>() }
        try await using(try await factory(recorders.map { recorder in { recorder.record($0) } })) { try await body($0.brokers, recorders) }
    }

    static func reachesSubscribers(_ factory: BrokerFactory) async throws {
        try await with(factory, nodes: 3) { brokers, received in
            let channel = Channel.conversation(ConversationID(uniqueName("c_"))!)
            try await brokers[0].subscribe(channel)
            try await brokers[1].subscribe(channel)
            try await brokers[0].publish(envelope(channel, 1))
            try await eventually("both subscribers get it") { received[0].count == 1 && received[1].count == 1 }
            // A marker on another channel that node 2 does subscribe to proves it had time to get the first.
            let marker = Channel.user(UserID(uniqueName("u"))!)
            try await brokers[2].subscribe(marker)
            try await brokers[0].publish(envelope(marker, 2))
            try await eventually("the marker") { received[2].count == 1 }
            try checkEqual(received[2].all.map(\.eventID), [2], "an unsubscribed node gets nothing")
        }
    }

    static func unsubscribeStops(_ factory: BrokerFactory) async throws {
        try await with(factory, nodes: 2) { brokers, received in
            let channel = Channel.conversation(ConversationID(uniqueName("c_"))!)
            try await brokers[1].subscribe(channel)
            try await brokers[1].subscribe(channel)
            try await brokers[0].publish(envelope(channel, 1))
            try await eventually("first delivery") { received[1].count == 1 }
            try await brokers[1].unsubscribe(channel)
            try await brokers[1].unsubscribe(channel)
            try await brokers[0].publish(envelope(channel, 2))
            let marker = Channel.user(UserID(uniqueName("u"))!)
            try await brokers[1].subscribe(marker)
            try await brokers[0].publish(envelope(marker, 3))
            try await eventually("the marker") { received[1].all.contains { $0.eventID == 3 } }
            try checkEqual(received[1].all.map(\.eventID), [1, 3], "one delivery per publish, none after unsubscribe")
        }
    }

    static func orderAndFields(_ factory: BrokerFactory) async throws {
        try await with(factory, nodes: 2) { brokers, received in
            let conversation = ConversationID(uniqueName("c_"))!
            let channel = Channel.conversation(conversation)
            try await brokers[1].subscribe(channel)
            let frame = #"{"type":"message.new","payload":{"content":"ünï \"quoted\" \n"}}"#
            for index in 1...200 {
                var sent = envelope(channel, UInt64(index), text: frame)
                sent.conversation = conversation
                sent.seq = Seq(index)
                sent.subject = UserID("someone")
                sent.kind = index % 2 == 0 ? .message : .conversationUpdated
                try await brokers[0].publish(sent)
            }
            try await eventually("200 deliveries") { received[1].count == 200 }
            let all = received[1].all
            try checkEqual(all.map(\.eventID), (1...200).map(UInt64.init), "publish order kept")
            let sample = all[41]
            try checkEqual(sample.channel, channel)
            try checkEqual(sample.kind, .message)
            try checkEqual(sample.origin, NodeID("node-0"))
            try checkEqual(sample.conversation, conversation)
            try checkEqual(sample.seq, 42)
            try checkEqual(sample.subject, UserID("someone"))
            try checkEqual(String(decoding: sample.frame, as: UTF8.self), frame)
        }
    }

    static func channelsAreSeparate(_ factory: BrokerFactory) async throws {
        try await with(factory, nodes: 2) { brokers, received in
            let name = uniqueName("x")
            let user = Channel.user(UserID(name)!)
            let conversation = Channel.conversation(ConversationID(name)!)
            try await brokers[1].subscribe(user)
            try await brokers[0].publish(envelope(conversation, 1))
            try await brokers[0].publish(envelope(user, 2))
            try await eventually("the user-channel event") { received[1].count >= 1 }
            try checkEqual(received[1].all.map(\.eventID), [2])
        }
    }
}
