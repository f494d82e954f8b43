import Testing

@testable import SwitchboardBench

/// The per-second samples: each second's acks are its own, and a second without any says so; what the
/// host took is carried with its second and summed over a failed step's slow seconds.
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

    @Test func aSecondCarriesWhatTheHostTookInIt() {
        let recorder = Recorder()
        recorder.began(at: Recorder.now(), receivers: 1, warmup: 0)
        #expect(recorder.tick(stolenMilliseconds: 120).stolenMilliseconds == 120)
        #expect(recorder.tick().stolenMilliseconds == nil)
    }

    @Test func aFailedStepNamesWhatTheHostTookInItsSlowSecondsAfterTheWarmUp() {
        func second(_ number: Int, p99: Double, stolen: Double?) -> Recorder.Sample {
            Recorder.Sample(
                second: number, sent: 0, delivered: 0, rate: 0, p99Milliseconds: p99, ackP99Milliseconds: nil, errors: 0, stolenMilliseconds: stolen)
        }
        let samples = [
            second(1, p99: 90, stolen: 500),  // the warm-up: not measured, not counted
            second(2, p99: 30, stolen: 120), second(3, p99: 8, stolen: 300), second(4, p99: 25, stolen: 0), second(5, p99: 40, stolen: nil),
        ]
        #expect(Run.hostShare(samples, limit: 20, warmup: 1) == " (the host took 120 ms of CPU in its 3 second(s) above it)")
        #expect(Run.hostShare(Array(samples.dropFirst(3)), limit: 20, warmup: 1) == "", "the host took nothing in them: nothing said")
    }
}
