import BenchAccounting
import Histogram
import NIOCore
import Synchronization

/// Everything a run observes, from every event loop: the ``Ledger`` (loss and duplicates), latency
/// histograms (send→ack, send→deliver, in microseconds), and one sample per second for the progress
/// line and the report's charts. One mutex; what runs under it is a few counter and histogram updates.
final class Recorder: Sendable {
    /// One second of the run.
    struct Sample: Codable, Sendable {
        var second: Int
        var sent: Int
        var delivered: Int
        /// Deliveries in this second.
        var rate: Int
        /// p99 send→deliver of this second's deliveries, in milliseconds.
        var p99Milliseconds: Double
        /// p99 send→ack of this second's acknowledgements, in milliseconds (the store's part of the
        /// second's tail; absent from results made before it was recorded).
        var ackP99Milliseconds: Double?
        var errors: Int
        /// CPU time the host took from this machine in this second, over all its CPUs, in milliseconds
        /// (steal time; absent from results made before it was recorded). A slow second with much of
        /// it was the host's, not the deployment's.
        var stolenMilliseconds: Double?
    }

    /// Something that happened at a moment of the run (a fault, a recovery), marked on the charts.
    struct Mark: Codable, Sendable {
        var second: Double
        var label: String
    }

    fileprivate struct State {
        var ledger = Ledger()
        var ack = Recorder.histogram()
        var deliver = Recorder.histogram()
        var secondDeliver = Recorder.histogram()
        var secondAck = Recorder.histogram()
        var samples: [Sample] = []
        var marks: [Mark] = []
        var deliveredAtLastTick = 0
        var errorsAtLastTick = 0
        /// How far the senders fell behind their schedule, at most (nanoseconds).
        var maxLag: UInt64 = 0
        var receivers = 0
        var abandoned = 0
        /// Latencies of messages sent before this are not recorded in the totals (the warm-up).
        var measureFrom: UInt64 = 0
        /// When the senders started: marks are placed in seconds after it, as the samples are.
        var origin: UInt64?
        /// When the drill's fault happened, and which receivers were shown a message sent after it.
        var faultAt: UInt64?
        var recovered: Set<Ledger.Receiver> = []
        var recoveredAt: UInt64?
        /// What `typing` and `history` runs count, besides the ledger's durable messages: signals or
        /// page reads sent and answered, events or entries received, and what was expected of them.
        var ephemeral = Tally()
        /// `typing`: when each (conversation, typist) last sent, and how many see each signal.
        var typedAt: [TypingKey: UInt64] = [:]
        var typingAudience = 0
    }

    struct TypingKey: Hashable {
        var conversation: String
        var typist: String
    }

    private let state = Mutex(State())
    /// The run's start, on the monotonic clock every loop shares.
    let start: UInt64

    init(start: UInt64 = Recorder.now()) { self.start = start }

    static func now() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

    static func histogram() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }

    func join(_ receivers: [Ledger.Receiver], to conversation: String) { state.withLock { $0.ledger.join(receivers, to: conversation) } }

    func sent(lag: UInt64) {
        state.withLock {
            $0.ledger.sent()
            $0.maxLag = max($0.maxLag, lag)
        }
    }

    func acknowledged(_ seq: Int64, in conversation: String, sentAt: UInt64) {
        let micros = (Self.now() &- sentAt) / 1000
        state.withLock {
            $0.ledger.acknowledged(seq, in: conversation)
            if sentAt >= $0.measureFrom { _ = $0.ack.record(micros) }
            _ = $0.secondAck.record(micros)
        }
    }

    func failed(_ code: String) { state.withLock { $0.ledger.failed(code) } }

    /// A send refused for good (not retryable): it will never be acknowledged.
    func abandoned() { state.withLock { $0.abandoned += 1 } }

    /// True when every send was acknowledged or abandoned and every acknowledged message was shown
    /// to every participant: nothing more will arrive.
    func settled() -> Bool {
        state.withLock { state in
            let tally = state.tally()
            return tally.acknowledged + state.abandoned >= tally.sent && tally.lost == 0
        }
    }

    /// A `message.new` read off `receiver`'s socket; shown to the application unless the client's
    /// dedupe drops it as a repeat.
    func received(_ seq: Int64, in conversation: String, by receiver: Ledger.Receiver, sentAt: UInt64?) {
        let micros = sentAt.map { (Self.now() &- $0) / 1000 }
        state.withLock { state in
            guard state.ledger.deliver(seq, in: conversation, to: receiver) else { return }
            if let faultAt = state.faultAt, state.recoveredAt == nil, let sentAt, sentAt > faultAt,
                state.recovered.insert(receiver).inserted, state.recovered.count >= state.receivers
            {
                state.recoveredAt = Self.now()
            }
            if let micros, let sentAt {
                if sentAt >= state.measureFrom { _ = state.deliver.record(micros) }
                _ = state.secondDeliver.record(micros)
            }
        }
    }

    func reconnected() { state.withLock { $0.ledger.reconnected() } }

    /// The senders start; `receivers` participants are expected to receive.
    func began(at start: UInt64, receivers: Int, warmup: Double) {
        state.withLock {
            $0.receivers = receivers
            $0.measureFrom = start + UInt64(warmup * 1e9)
            $0.origin = start
        }
    }

    /// The drill's fault happened now: recovery is the time until every participant has been shown a
    /// message sent after it.
    func fault(_ label: String) {
        let now = Self.now()
        state.withLock {
            $0.faultAt = now
            $0.marks.append(Mark(second: Double(now &- ($0.origin ?? start)) / 1e9, label: label))
        }
    }

    /// Seconds from the fault until every participant was delivered again; nil without a fault or
    /// while some participant has not been.
    var recoverySeconds: Double? {
        state.withLock { state in
            guard let faultAt = state.faultAt, let recoveredAt = state.recoveredAt else { return nil }
            return Double(recoveredAt - faultAt) / 1e9
        }
    }

    func mark(_ label: String) {
        let now = Self.now()
        state.withLock { $0.marks.append(Mark(second: Double(now &- ($0.origin ?? start)) / 1e9, label: label)) }
    }

    /// Closes the current second: its sample, for the progress line, with the CPU time the host took
    /// in it (`stolenMilliseconds`, measured by the caller).
    func tick(stolenMilliseconds: Double? = nil) -> Sample {
        state.withLock { state in
            let tally = state.counts()
            let errors = tally.errors.values.reduce(0, +)
            let sample = Sample(
                second: state.samples.count + 1, sent: tally.sent, delivered: tally.delivered,
                rate: tally.delivered - state.deliveredAtLastTick,
                p99Milliseconds: state.secondDeliver.totalCount == 0 ? 0 : Double(state.secondDeliver.valueAtPercentile(99)) / 1000,
                ackP99Milliseconds: state.secondAck.totalCount == 0 ? nil : Double(state.secondAck.valueAtPercentile(99)) / 1000,
                errors: errors - state.errorsAtLastTick, stolenMilliseconds: stolenMilliseconds)
            state.deliveredAtLastTick = tally.delivered
            state.errorsAtLastTick = errors
            state.secondDeliver.reset()
            state.secondAck.reset()
            state.samples.append(sample)
            return sample
        }
    }

    /// Up to `limit` lost deliveries, and each conversation's highest acknowledged seq, for the report.
    func missing(limit: Int) -> [Ledger.Missing] { state.withLock { $0.ledger.missing(limit: limit) } }

    /// The ledger's tally now (walks every acknowledged message: call it once a second at most).
    func tally() -> Tally { state.withLock { $0.tally() } }

    /// What the report needs, copied out.
    func snapshot() -> (tally: Tally, ack: Histogram<UInt64>, deliver: Histogram<UInt64>, samples: [Sample], marks: [Mark], maxLag: UInt64) {
        state.withLock { ($0.tally(), $0.ack, $0.deliver, $0.samples, $0.marks, $0.maxLag) }
    }
}

extension Recorder {
    // MARK: typing

    /// A `typing` signal left `typist`; `audience` participants should see it.
    func typingSent(in conversation: String, by typist: String, audience: Int, lag: UInt64) {
        let now = Self.now()
        state.withLock {
            $0.ephemeral.sent += 1
            $0.typingAudience = audience
            $0.typedAt[TypingKey(conversation: conversation, typist: typist)] = now
            $0.maxLag = max($0.maxLag, lag)
        }
    }

    /// The node acknowledged a `typing` signal sent at `sentAt` (it passes it on). Signals of the
    /// warm-up are not expected anywhere: a member on another node may not be subscribed to a
    /// conversation yet in its first moments, and an ephemeral event has no catch-up.
    func typingAcknowledged(sentAt: UInt64) {
        let micros = (Self.now() &- sentAt) / 1000
        state.withLock {
            $0.ephemeral.acknowledged += 1
            guard sentAt >= $0.measureFrom else { return }
            $0.ephemeral.expected += $0.typingAudience
            _ = $0.ack.record(micros)
        }
    }

    /// `receiver` was told `typist` is typing: the latency is from that typist's latest signal there.
    func typing(in conversation: String, by typist: String, seenBy receiver: Ledger.Receiver) {
        let now = Self.now()
        state.withLock { state in
            guard let sentAt = state.typedAt[TypingKey(conversation: conversation, typist: typist)], sentAt >= state.measureFrom else {
                return
            }
            state.ephemeral.delivered += 1
            let micros = (now &- sentAt) / 1000
            _ = state.deliver.record(micros)
            _ = state.secondDeliver.record(micros)
        }
    }

    // MARK: history

    /// A page read left the harness.
    func readSent(lag: UInt64) {
        state.withLock {
            $0.ephemeral.sent += 1
            $0.maxLag = max($0.maxLag, lag)
        }
    }

    /// A page read sent at `sentAt` was answered with `entries` entries, `expected` of them right
    /// (a page with a gap, a repeat or the wrong bounds counts as `bad_page`).
    func read(sentAt: UInt64, entries: Int, correct: Bool) {
        let micros = (Self.now() &- sentAt) / 1000
        state.withLock {
            $0.ephemeral.acknowledged += 1
            $0.ephemeral.delivered += entries
            $0.ephemeral.expected += entries
            if !correct { $0.ephemeral.errors["bad_page", default: 0] += 1 }
            if sentAt >= $0.measureFrom { _ = $0.ack.record(micros) }
            _ = $0.secondDeliver.record(micros)
        }
    }

    /// A page read failed with `code`.
    func readFailed(_ code: String) { state.withLock { $0.ephemeral.errors[code, default: 0] += 1 } }
}

extension Recorder {
    /// The setup's sends (a `history` run's seed) are done: counts and latencies start again for the
    /// reads.
    func resetForReads() {
        state.withLock {
            $0.ledger = Ledger()
            $0.ack = Recorder.histogram()
            $0.deliver = Recorder.histogram()
            $0.secondDeliver = Recorder.histogram()
            $0.secondAck = Recorder.histogram()
            $0.maxLag = 0
            $0.abandoned = 0
        }
    }
}

extension Recorder.State {
    /// The running counts: the ledger's and the ephemeral ones (a run has one or the other).
    func counts() -> Tally { Self.adding(ledger.counts, ephemeral) }

    /// The whole tally: the ledger's loss, and for typing the events not seen.
    func tally() -> Tally {
        let durable = ledger.tally()
        var total = Self.adding(durable, ephemeral)
        total.expected = durable.expected + ephemeral.expected
        total.lost += max(0, ephemeral.expected - ephemeral.delivered)
        return total
    }

    private static func adding(_ a: Tally, _ b: Tally) -> Tally {
        var sum = a
        sum.sent += b.sent
        sum.acknowledged += b.acknowledged
        sum.delivered += b.delivered
        sum.duplicatesShown += b.duplicatesShown
        sum.wireDuplicates += b.wireDuplicates
        sum.reconnects += b.reconnects
        sum.errors.merge(b.errors, uniquingKeysWith: +)
        return sum
    }
}
