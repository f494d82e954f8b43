import ChatCore
import ChatTesting
import EmbeddedEngine
import Foundation
import Logging
import Synchronization
import Testing

@testable import ChatNode

/// A notice job reads the conversation, then presence: what happens between the two reads must not
/// make a notice of what a device already took.
@Suite struct AwayNoticeRecipientTests {
    /// The embedded presence, running `beforeStatus` once, before the first presence read answers.
    final class SteppedPresence: Presence {
        let presence: MemoryPresence
        private let step: Mutex<(@Sendable () async throws -> Void)?>

        init(_ presence: MemoryPresence, beforeStatus: @escaping @Sendable () async throws -> Void) {
            self.presence = presence
            step = Mutex(beforeStatus)
        }

        func connect(_ connection: ConnectionID, user: UserID, node: NodeID, ttl: Duration) async throws -> PresenceTransition? {
            await presence.connect(connection, user: user, node: node, ttl: ttl)
        }
        func heartbeat(_ connections: [(connection: ConnectionID, user: UserID)], node: NodeID, ttl: Duration) async throws {
            await presence.heartbeat(connections, node: node, ttl: ttl)
        }
        func disconnect(_ connection: ConnectionID, user: UserID) async throws -> PresenceTransition? {
            await presence.disconnect(connection, user: user)
        }
        func status(of users: [UserID]) async throws -> [UserPresence] {
            if let step = step.withLock({ step in defer { step = nil }; return step }) { try await step() }
            return await presence.status(of: users)
        }
        func expire() async throws -> [PresenceTransition] { await presence.expire() }
    }

    struct RecordingNotifier: AwayNotifier {
        let notices = Recorder<AwayNotice>()
        func deliver(_ notice: AwayNotice) async throws { notices.record(notice) }
    }

    let alice = UserID("alice")!, bob = UserID("bob")!

    /// bob's device takes the post and acknowledges it, then his connection ends, all while the job is
    /// between its read of the conversation and its read of presence: he is away, but nothing is news.
    @Test func anAcknowledgementJustBeforeLeavingIsNotNews() async throws {
        let notices = try await notices { store, presence, id in
            _ = try await store.markWatermarks(of: bob, in: id, delivered: 1, read: nil)
            _ = await presence.disconnect(ConnectionID("bob-phone"), user: bob)
        }
        #expect(notices.isEmpty)
    }

    /// The same moment without the acknowledgement: bob left behind, so he is told, with what his
    /// devices have.
    @Test func leavingBehindIsNews() async throws {
        let notices = try await notices { _, presence, _ in
            _ = await presence.disconnect(ConnectionID("bob-phone"), user: bob)
        }
        #expect(notices.map { $0.recipients.map(\.user) } == [[bob]])
        #expect(notices.first?.recipients.first?.deliveredSeq == 0 && notices.first?.conversation.lastSeq == 1)
    }

    /// Runs the `notify` job of a direct conversation where alice posted once while bob was connected,
    /// with `meanwhile` run between the job's first read and presence; returns the notices it made.
    private func notices(
        meanwhile: @escaping @Sendable (SQLiteStore, MemoryPresence, ConversationID) async throws -> Void
    ) async throws -> [AwayNotice] {
        let clock = ManualClock()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notices-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await SQLiteStore.open(directory: directory, logger: Logger(label: "test"))
        let memory = MemoryPresence(clock: clock)
        let id = ConversationID("c_direct")!
        _ = try await store.createDirect(id: id, between: alice, and: bob, workspace: nil, at: clock.now())
        _ = await memory.connect(ConnectionID("bob-phone"), user: bob, node: NodeID("n1"), ttl: .seconds(60))
        _ = try await store.append(
            MessageDraft(
                id: RandomIDGenerator().messageID(), conversation: id, sender: alice, clientID: ClientMessageID("hi")!,
                kind: .text, content: "hi", metadata: nil, createdAt: clock.now()))
        let notifier = RecordingNotifier()
        let presence = SteppedPresence(memory) { try await meanwhile(store, memory, id) }
        let notices = AwayNotices(
            queue: MemoryJobQueue(clock: clock), store: store, presence: presence, notifier: notifier, clock: clock,
            delay: .seconds(10), logger: Logger(label: "test"))
        try await notices.handle(Job(id: "notify:\(id.rawValue):0", kind: AwayNotices.kind, payload: Array("\(id.rawValue) 0".utf8)))
        await store.close()
        return notifier.notices.all
    }
}
