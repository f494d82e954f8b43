import Testing

@testable import SwitchboardBench

/// The per-second samples: each second's acks are its own, and a second without any says so.
@Suite struct RecorderTests {
    @Test func aSecondsSampleCarriesTheP99OfItsOwnAcks() {
        let recorder = Recorder()
        recorder.began(at: Recorder.now(), receivers: 1, warmup: 0)
        // Sent 40 ms ago: the ack's latency is at least that, however fast the test runs.
        recorder.acknowledged(1, in: "c", sentAt: Recorder.now() - 40_000_000)
        let first = recorder.tick()
        #expect((first.ackP99Milliseconds ?? 0) >= 40)
        let quiet = recorder.tick()
        #expect(quiet.ackP99Milliseconds == nil, "no ack in the second: no figure, not the last second's")
    }
}
