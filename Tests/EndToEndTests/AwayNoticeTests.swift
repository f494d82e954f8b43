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
/// `failFirst` calls.
final class WebhookReceiver: Sendable {
    struct Call: Sendable {
        var headers: [String: String]
        var body: [UInt8]
        var notice: AwayNoticeBody? { try? JSONDecoder().decode(AwayNoticeBody.self, from: Data(body)) }
    }

    private let recorded = Mutex<[Call]>([])
    private let failuresLeft: Mutex<Int>
    var calls: [Call] { recorded.withLock { $0 } }

    init(failFirst: Int = 0) { failuresLeft = Mutex(failFirst) }

    /// Runs the receiver while `body` runs, with its URL.
    func serving<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/hooks") { [self] request, _ -> HTTPResponse.Status in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            recorded.withLock { $0.append(Call(headers: headers, body: Array(buffer: bytes))) }
            return failuresLeft.withLock { left in
                guard left > 0 else { return .noContent }
                left -= 1
                return .internalServerError
            }
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
            // A window wide enough for three sends on a loaded machine.
            try await Self.node(hook, window: .milliseconds(1500)).run { url in
                let alice = try await TestNode.client(url, "alice"), carol = try await TestNode.client(url, "carol")
                try await alice.withConnection { a in
                    try await carol.withConnection { _ in
                        // bob is away, carol is here: only bob is told.
                        let id = try await a.createGroup(title: "Team", participants: ["bob", "carol"]).conversation.id
                        for index in 1...3 { _ = try await a.send("m\(index)", to: id) }
                        try await eventually("a notice up to the third post") { receiver.calls.contains { $0.notice?.lastSeq == 3 } }
                        // Three quick posts fall in one window, or straddle two: never three notices.
                        let calls = receiver.calls
                        #expect(calls.count <= 2, "posts of a window share a notice")
                        for call in calls {
                            let notice = try #require(call.notice)
                            #expect(notice.type == "away_notice" && notice.conversation.id == id && notice.conversation.title == "Team")
                            #expect(notice.recipients.map(\.user) == ["bob"], "carol is online, alice wrote the news")
                            #expect(call.headers["x-switchboard-delivery"] == notice.id && notice.id == "\(id):\(notice.lastSeq)")
                            let timestamp = try #require(call.headers["x-switchboard-timestamp"].flatMap { Int64($0) })
                            let expected = WebhookSignature.header(body: call.body, timestamp: timestamp, secret: Array(Self.secret.utf8))
                            #expect(call.headers["x-switchboard-signature"] == expected, "signed with the shared secret")
                        }
                        #expect(calls.last?.notice?.lastMessage?.content == "m3")

                        // A later post makes a later notice.
                        _ = try await a.send("m4", to: id)
                        try await eventually("a notice up to the fourth post") { receiver.calls.last?.notice?.lastSeq == 4 }
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
                    #expect(Set(ids).count == 1 && ids[0] == "\(id):1", "one notice, three attempts")
                    try await eventually("the job is counted done after two retries") {
                        let text = String(decoding: try await alice.call("GET", "/metrics").1, as: UTF8.self)
                        return text.contains(#"switchboard_jobs_total{kind="notify",result="retried"} 2"#)
                            && text.contains(#"switchboard_jobs_total{kind="notify",result="done"} 1"#)
                    }
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
                        _ = try await a.send("hi", to: id)
                        try await waitForMessages(b, ["hi"])
                        _ = try await b.mark(id, delivered: 1)
                    }
                    _ = try await a.send("still there?", to: id)
                    try await eventually("a notice for the post made while bob was away") { !receiver.calls.isEmpty }
                    // If the two posts fell in two windows and the first window's job ran late, both jobs
                    // describe the same state: the same delivery id, which a receiver drops as a repeat.
                    for call in receiver.calls {
                        let notice = try #require(call.notice)
                        #expect(notice.id == "\(id):2" && notice.lastMessage?.content == "still there?")
                        #expect(notice.recipients.map(\.user) == ["bob"] && notice.recipients.first?.deliveredSeq == 1)
                    }
                }
            }
        }
    }
}
