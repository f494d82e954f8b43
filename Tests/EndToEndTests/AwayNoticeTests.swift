import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization
import Testing
import Webhooks

/// A webhook receiver on a free loopback port: records every call; answers 500 to the first
/// `failFirst` calls. With `holdFirst`, the first call is recorded (the gateway has it) but not
/// answered until ``release()``.
final class WebhookReceiver: Sendable {
    struct Call: Sendable {
        var headers: [String: String]
        var body: [UInt8]
        var notice: AwayNoticeBody? { try? JSONDecoder().decode(AwayNoticeBody.self, from: Data(body)) }
    }

    private let recorded = Mutex<[Call]>([])
    /// The first calls that are answered 500, counted by arrival.
    private let failFirst: Int
    private let hold: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)?
    var calls: [Call] { recorded.withLock { $0 } }

    init(failFirst: Int = 0, holdFirst: Bool = false) {
        self.failFirst = failFirst
        hold = holdFirst ? AsyncStream<Void>.makeStream() : nil
    }

    /// Lets the held first call be answered.
    func release() { hold?.continuation.finish() }

    /// Runs the receiver while `body` runs, with its URL.
    func serving<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/hooks") { [self] request, _ -> HTTPResponse.Status in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let index = recorded.withLock { calls in
                calls.append(Call(headers: headers, body: Array(buffer: bytes)))
                return calls.count
            }
            if index == 1, let hold { for await _ in hold.stream {} }
            // By arrival, not by answer: the node runs several jobs at once, so a later call may be
            // answered before the held first one.
            return index <= failFirst ? .internalServerError : .noContent
        }
        let port = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { port.continuation.yield($0.localAddress?.port ?? 0) })
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService(gracefulShutdownSignals: []) }
            defer { group.cancelAll() }
            var ports = port.stream.makeAsyncIterator()
            guard let bound = await ports.next() else { throw ConformanceFailure(message: "the receiver did not start") }
            return try await body("http://127.0.0.1:\(bound)/hooks")
        }
    }
}

@Suite struct AwayNoticeTests {
    static let secret = "webhook-secret-of-32-bytes-at-least"

    static func node(_ url: String, window: Duration = .milliseconds(300)) -> TestNode {
        TestNode {
            $0.notifyWebhookURL = url
            $0.notifyWebhookSecret = secret
            $0.notifyDelay = window
        }
    }

    @Test func postsToAwayParticipantsMakeOneSignedNoticePerWindow() async throws {
        let receiver = WebhookReceiver()
        try await receiver.serving { hook in
            // The node's clock moves only when the test says: the three posts share one window however
            // long they take, and the window ends when the test ends it.
            let window = Duration.milliseconds(300)
            let clock = ManualClock(start: Timestamp(milliseconds: Int64(Date().timeIntervalSince1970 * 1000)))
            var node = Self.node(hook, window: window)
            node.clock = clock
            try await node.run { url in
                let alice = try await TestNode.client(url, "alice"), carol = try await TestNode.client(url, "carol")
                try await alice.withConnection { a in
                    try await carol.withConnection { _ in
                        // bob is away, carol is here: only bob is told.
                        let id = try await a.createGroup(title: "Team", participants: ["bob", "carol"]).conversation.id
                        try await eventually("carol counts as online") { try await a.presence(of: ["carol"]).first?.online == true }
                        for index in 1...3 { _ = try await a.send("m\(index)", to: id) }
                        #expect(receiver.calls.isEmpty, "nothing is told before the window ends")
                        clock.advance(by: window)
                        try await eventually("a notice up to the third post") { !receiver.calls.isEmpty }
                        let calls = receiver.calls
                        #expect(calls.count == 1, "the posts of a window share one notice")
                        let notice = try #require(calls.first?.notice)
                        #expect(notice.type == "away_notice" && notice.conversation.id == id && notice.conversation.title == "Team")
                        #expect(notice.lastSeq == 3 && notice.lastMessage?.content == "m3")
                        #expect(notice.recipients.map(\.user) == ["bob"], "carol is online, alice wrote the news")
                        #expect(calls[0].headers["x-switchboard-delivery"] == notice.id && notice.id.hasPrefix("\(id):"))
                        let timestamp = try #require(calls[0].headers["x-switchboard-timestamp"].flatMap { Int64($0) })
                        let expected = WebhookSignature.header(body: calls[0].body, timestamp: timestamp, secret: Array(Self.secret.utf8))
                        #expect(calls[0].headers["x-switchboard-signature"] == expected, "signed with the shared secret")

                        // A post in a later window makes a notice of its own.
                        _ = try await a.send("m4", to: id)
                        clock.advance(by: window)
                        try await eventually("a notice up to the fourth post") { receiver.calls.count == 2 }
                        let later = try #require(receiver.calls.last?.notice)
                        #expect(later.lastSeq == 4 && later.id != notice.id, "each window's notice has an id of its own")
                    }
                }
            }
        }
    }

    @Test func aFailedDeliveryIsRetriedWithTheSameID() async throws {
        let receiver = WebhookReceiver(failFirst: 2)
        try await receiver.serving { hook in
            try await Self.node(hook).run { url in
                let alice = try await TestNode.client(url, "alice")
                try await alice.withConnection { a in
                    let id = try await a.createDirect(with: "bob").conversation.id
                    _ = try await a.send("are you there?", to: id)
                    try await eventually("delivered on the third attempt") { receiver.calls.count == 3 }
                    let ids = receiver.calls.map { $0.headers["x-switchboard-delivery"] }
                    #expect(Set(ids).count == 1 && ids[0]?.hasPrefix("\(id):") == true, "one notice, three attempts")
                    try await eventually("the job is counted done after two retries") {
                        let text = String(decoding: try await alice.call("GET", "/metrics").1, as: UTF8.self)
                        return text.contains(#"switchboard_jobs_total{kind="notify",result="retried"} 2"#)
                            && text.contains(#"switchboard_jobs_total{kind="notify",result="done"} 1"#)
                    }
                }
            }
        }
    }

    /// The gateway took the first attempt but answered 500, and posts kept arriving: the retry still
    /// carries the first attempt's id, so the gateway drops it as a repeat; what came meanwhile gets a
    /// notice (an id) of its own.
    @Test func aRetryAfterTheGatewayAcceptedKeepsItsIDWhilePostsArrive() async throws {
        let receiver = WebhookReceiver(failFirst: 1, holdFirst: true)
        try await receiver.serving { hook in
            try await Self.node(hook).run { url in
                let alice = try await TestNode.client(url, "alice")
                try await alice.withConnection { a in
                    let id = try await a.createDirect(with: "bob").conversation.id
                    _ = try await a.send("first", to: id)
                    try await eventually("the gateway has the first attempt") { receiver.calls.count == 1 }
                    for index in 2...4 { _ = try await a.send("post \(index)", to: id) }
                    receiver.release()
                    // The retry and the later window's notice may come in either order.
                    let firstID = try #require(receiver.calls.first?.notice?.id)
                    try await eventually("the retry, and a notice up to the fourth post") {
                        receiver.calls.dropFirst().contains { $0.notice?.id == firstID }
                            && receiver.calls.contains { $0.notice?.lastSeq == 4 && $0.notice?.id != firstID }
                    }
                    let calls = receiver.calls
                    #expect(calls[0].notice?.lastSeq == 1)
                    let retries = calls.dropFirst().filter { $0.notice?.id == firstID }
                    #expect(retries.count == 1 && retries.allSatisfy { $0.headers["x-switchboard-delivery"] == firstID }, "the same delivery, tried again")
                    let later = calls.dropFirst().compactMap(\.notice).filter { $0.id != firstID }
                    #expect(later.contains { $0.lastSeq == 4 }, "posts of later windows make notices of their own")
                }
            }
        }
    }

    /// `delivered_seq` is the devices' acknowledgement: what bob acknowledged is not news to him.
    @Test func whatADeviceAcknowledgedIsNotNews() async throws {
        let receiver = WebhookReceiver()
        try await receiver.serving { hook in
            try await Self.node(hook).run { url in
                let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
                try await alice.withConnection { a in
                    let id = try await a.createDirect(with: "bob").conversation.id
                    try await bob.withConnection { b in
                        // A connection counts as online once its presence is written, a moment after its
                        // welcome: until then a notice job (due at the window's end, which may come at once)
                        // would rightly count bob as away.
                        try await eventually("bob counts as online") { try await a.presence(of: ["bob"]).first?.online == true }
                        _ = try await a.send("hi", to: id)
                        try await waitForMessages(b, ["hi"])
                        _ = try await b.mark(id, delivered: 1)
                    }
                    _ = try await a.send("still there?", to: id)
                    try await eventually("a notice for the post made while bob was away") { !receiver.calls.isEmpty }
                    // If the two posts fell in two windows and the first window's job ran late, both jobs
                    // describe the same state.
                    for call in receiver.calls {
                        let notice = try #require(call.notice)
                        #expect(notice.lastSeq == 2 && notice.lastMessage?.content == "still there?")
                        #expect(notice.recipients.map(\.user) == ["bob"] && notice.recipients.first?.deliveredSeq == 1)
                    }
                }
            }
        }
    }
}
