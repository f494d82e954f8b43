import ChatCore
import ChatNode
import ChatTesting
import ChatWire
import EmbeddedEngine
import Foundation
import Logging
import Testing

/// Presence on a test clock: a connection whose heartbeats stop (its node vanished) expires within one
/// TTL, and the user's contacts are told.
@Suite struct PresenceTrackerTests {
    @Test func aConnectionWhoseHeartbeatsStopExpiresAndContactsAreTold() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-presence-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await SQLiteStore.open(directory: directory, logger: Logger(label: "test"))
        let direct = try await store.createDirect(
            id: RandomIDGenerator().conversationID(), between: UserID("ann")!, and: UserID("bob")!, workspace: nil,
            at: Timestamp(milliseconds: 0))
        let clock = ManualClock()
        let presence = MemoryPresence(clock: clock)
        var settings = NodeSettings(nodeID: NodeID("alive"))
        settings.presenceTTL = .seconds(30)
        let bus = InProcessBus()
        let told = Recorder<PresenceBody>()
        let named = Recorder<[ConversationID]>()
        let watcher = bus.broker(node: NodeID("watcher")) { envelope in
            if let body = try? ServerFrame(bytes: envelope.frame).payload(PresenceBody.self) { told.record(body) }
            named.record(envelope.conversations)
        }
        try await watcher.subscribe(.presence)
        let hub = Hub(store: store, clock: clock, settings: settings, logger: Logger(label: "test"))
        let publisher = EventPublisher(broker: bus.broker(node: settings.nodeID) { _ in }, node: settings.nodeID)
        let tracker = PresenceTracker(presence: presence, store: store, publisher: publisher, hub: hub, settings: settings, desk: nil, logger: Logger(label: "test"))

        // Bob's connection lives on a node that then vanishes: nobody heartbeats it.
        _ = await presence.connect(ConnectionID("on-dead-node"), user: UserID("bob")!, node: NodeID("dead"), ttl: settings.presenceTTL)
        #expect(await presence.status(of: [UserID("bob")!]).first?.online == true)
        clock.advance(by: .seconds(29))
        await tracker.beat()
        #expect(told.all.isEmpty, "still within its TTL")
        clock.advance(by: .seconds(2))
        await tracker.beat()
        #expect(told.all.count == 1)
        #expect(told.all.first?.user == "bob" && told.all.first?.online == false)
        #expect(named.all == [[direct.conversation.id]], "the event names bob's conversations, read from the store (his node is gone)")
        let status = await presence.status(of: [UserID("bob")!]).first
        #expect(status?.online == false && status?.lastSeen != nil, "offline, with the time it was last known alive")
        await store.close()
    }
}
