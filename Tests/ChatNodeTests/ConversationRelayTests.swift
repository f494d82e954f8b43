import ChatCore
import Testing

@testable import ChatNode

@Suite struct ConversationRelayTests {
    let conversation = ConversationID("c_1")!
    let t0 = Timestamp(milliseconds: 1000)

    func envelope(_ seq: Seq) -> Envelope {
        Envelope(channel: .conversation(conversation), kind: .message, origin: NodeID("n"), eventID: UInt64(seq), conversation: conversation, seq: seq, frame: [])
    }

    @Test func holdsEverythingUntilTheBaselineIsKnown() {
        var relay = ConversationRelay(maxPending: 10)
        #expect(relay.receive(envelope(5), now: t0).isEmpty)
        #expect(relay.receive(envelope(6), now: t0).isEmpty)
        #expect(relay.start(lastSeq: 4, now: t0).map(\.seq) == [5, 6])
        #expect(relay.expected == 7)
    }

    @Test func deliversInOrderOnceAndDropsRepeats() {
        var relay = ConversationRelay(maxPending: 10)
        _ = relay.start(lastSeq: 0, now: t0)
        #expect(relay.receive(envelope(2), now: t0).isEmpty, "2 waits for 1")
        #expect(relay.receive(envelope(1), now: t0).map(\.seq) == [1, 2])
        #expect(relay.receive(envelope(2), now: t0).isEmpty, "a repeat is dropped")
        #expect(relay.receive(envelope(3), now: t0).map(\.seq) == [3])
    }

    @Test func asksForRepairAfterTheDelayOrWhenFull() {
        var relay = ConversationRelay(maxPending: 3)
        _ = relay.start(lastSeq: 10, now: t0)
        _ = relay.receive(envelope(13), now: t0)
        #expect(relay.repairPoint(now: t0.advanced(by: .milliseconds(100)), delay: .milliseconds(500)) == nil)
        #expect(relay.repairPoint(now: t0.advanced(by: .milliseconds(500)), delay: .milliseconds(500)) == 10)
        _ = relay.receive(envelope(14), now: t0)
        _ = relay.receive(envelope(15), now: t0)
        #expect(relay.repairPoint(now: t0, delay: .seconds(60)) == 10, "a full holding area repairs at once")
        #expect(relay.receive(envelope(11), now: t0).map(\.seq) == [11])
        #expect(relay.receive(envelope(12), now: t0).map(\.seq) == [12, 13, 14, 15])
        #expect(relay.repairPoint(now: t0.advanced(by: .seconds(60)), delay: .milliseconds(500)) == nil, "no gap left")
    }

    @Test func aFailedStoreReadAsksForRepairWithoutAGap() {
        var relay = ConversationRelay(maxPending: 10)
        _ = relay.start(lastSeq: 4, now: t0)
        #expect(relay.repairPoint(now: t0.advanced(by: .seconds(60)), delay: .milliseconds(500)) == nil, "nothing known missing")
        relay.unconfirmed(now: t0)
        relay.unconfirmed(now: t0.advanced(by: .milliseconds(400)))
        #expect(relay.repairPoint(now: t0.advanced(by: .milliseconds(100)), delay: .milliseconds(500)) == nil, "waits the delay")
        #expect(relay.repairPoint(now: t0.advanced(by: .milliseconds(500)), delay: .milliseconds(500)) == 4, "from the first failure")
        #expect(relay.receive(envelope(5), now: t0).map(\.seq) == [5])
        #expect(relay.repairPoint(now: t0.advanced(by: .seconds(1)), delay: .milliseconds(500)) == 5, "a live event does not confirm")
        relay.confirmed()
        #expect(relay.repairPoint(now: t0.advanced(by: .seconds(60)), delay: .milliseconds(500)) == nil)
    }
}
