import BenchAccounting
import Testing

/// The harness can fail: its accounting finds a message missing for one participant and one shown twice.
@Suite struct LedgerTests {
    let alice = Ledger.Receiver(user: "alice"), bob = Ledger.Receiver(user: "bob"), carol = Ledger.Receiver(user: "carol")

    @Test func aMissingDeliveryIsLostAndARepeatShownIsADuplicate() {
        var ledger = Ledger()
        ledger.join([alice, bob, carol], to: "c1")
        for seq in Int64(1)...5 {
            ledger.sent()
            ledger.acknowledged(seq, in: "c1")
        }
        for receiver in [alice, bob, carol] {
            for seq in Int64(1)...5 where !(receiver == carol && seq == 3) {
                ledger.shown(seq, in: "c1", to: receiver)
            }
        }
        ledger.shown(4, in: "c1", to: bob)
        let tally = ledger.tally()
        #expect(tally.sent == 5 && tally.acknowledged == 5)
        #expect(tally.expected == 15)
        #expect(tally.delivered == 14)
        #expect(tally.lost == 1, "carol never saw seq 3")
        #expect(tally.duplicatesShown == 1, "bob was shown seq 4 twice")
    }

    @Test func theClientsDedupeCountsWireRepeatsWithoutShowingThem() {
        var ledger = Ledger()
        ledger.join([alice], to: "c1")
        ledger.acknowledged(1, in: "c1")
        ledger.acknowledged(2, in: "c1")
        // Out of order, then a resume that repeats what was already shown.
        for seq: Int64 in [2, 1, 1, 2] where ledger.received(seq, in: "c1", by: alice) {
            ledger.shown(seq, in: "c1", to: alice)
        }
        let tally = ledger.tally()
        #expect(tally.delivered == 2 && tally.lost == 0 && tally.duplicatesShown == 0 && tally.wireDuplicates == 2)
    }

    @Test func deliverIsTheDedupeAndTheShowInOneStep() {
        var ledger = Ledger()
        ledger.join([alice, bob], to: "c1")
        ledger.acknowledged(1, in: "c1")
        ledger.acknowledged(2, in: "c1")
        let shown = [Int64(2), 1, 1, 2].map { ledger.deliver($0, in: "c1", to: alice) }
        #expect(shown == [true, true, false, false])
        let tally = ledger.tally()
        #expect(tally.delivered == 2 && tally.wireDuplicates == 2 && tally.duplicatesShown == 0)
        #expect(tally.lost == 2, "bob was shown neither")
    }

    @Test func onlyAcknowledgedMessagesAreExpectedAndOnlyByMembers() {
        var ledger = Ledger()
        ledger.join([alice, bob], to: "c1")
        ledger.join([carol], to: "c2")
        ledger.sent()
        ledger.sent()
        ledger.failed("timeout")
        ledger.acknowledged(1, in: "c1")
        ledger.acknowledged(1, in: "c1")  // a retry the node recognised
        ledger.shown(1, in: "c1", to: alice)
        // Delivered although never acknowledged (the ack was lost): not expected, not lost.
        ledger.shown(2, in: "c1", to: alice)
        let tally = ledger.tally()
        #expect(tally.acknowledged == 1 && tally.expected == 2 && tally.lost == 1 && tally.errors == ["timeout": 1])
        #expect(tally.delivered == 2)
    }
}
