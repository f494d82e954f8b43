import ChatCore
import ChatWire
import CoreMetrics
import Synchronization

/// The node's metrics, made through an injected swift-metrics factory (Prometheus in the node, so
/// each node in a test process has its own registry). Every label set is fixed and small: frame types,
/// error codes, envelope kinds and store operations are closed sets, created up front, so the hot path
/// only increments.
///
/// Names (Prometheus): `switchboard_connections`, `switchboard_sessions`, `switchboard_relayed_conversations`
/// (gauges); `switchboard_frames_in_total{type}`, `switchboard_frames_out_total{type}`,
/// `switchboard_errors_total{code}`, `switchboard_broker_published_total{kind}`,
/// `switchboard_broker_received_total{kind}`, `switchboard_broker_subscriptions_total{op}`,
/// `switchboard_cache_total{key,result}`, `switchboard_jobs_total{kind,result}` (counters; results
/// `enqueued`, `done`, `retried`, `buried`); `switchboard_jobs_pending{kind}`,
/// `switchboard_jobs_oldest_due_seconds`, `switchboard_jobs_dead_letters` (gauges, the queue as the
/// node's runner last looked at it, shared by the cluster on Redis);
/// `switchboard_delivery_seconds` (send to delivery on this node), `switchboard_store_seconds{op}` and
/// `switchboard_store_append_batch_size` (sends per group-commit transaction) (histograms); `switchboard_ready` and `switchboard_broker_up` (1 or 0, read at each scrape).
public final class NodeMetrics: Sendable {
    private let connections: Meter
    private let openSockets = Atomic<Int>(0)
    public let sessions: Meter
    public let relayedConversations: Meter
    /// 1 while `/health/ready` would answer 200.
    public let ready: Meter
    /// 1 while the broker's link is healthy (its canary comes back; always on the embedded engine).
    public let brokerUp: Meter
    public let delivery: Timer
    private let framesIn: [String: Counter]
    private let framesOut: [String: Counter]
    private let eventsOut: [EventKind: Counter]
    private let errors: [String: Counter]
    private let published: [String: Counter]
    private let received: [String: Counter]
    private let subscriptions: [String: Counter]
    private let cacheResults: [CacheOutcome: Counter]
    private let factory: any MetricsFactory
    private let storeTimers: Lazily<String, Timer>
    private let appendBatches: Recorder
    private let jobResults: Lazily<JobOutcome, Counter>
    private let jobsPending: Lazily<String, Gauge>
    private let jobKindsSeen = Mutex<Set<String>>([])
    private let jobsOldestDue: Gauge
    private let jobsDeadLetters: Gauge
    private let framesInTotal = Atomic<Int>(0)
    private let eventsOutTotal = Atomic<Int>(0)
    private let errorsTotal = Mutex<[String: Int]>([:])

    private struct CacheOutcome: Hashable {
        var key: CacheKey.Kind
        var result: CacheResult
    }

    private struct JobOutcome: Hashable, Sendable {
        var kind: String
        var result: JobResult
    }

    /// What a cache call came to.
    public enum CacheResult: String, CaseIterable, Sendable {
        case hit, miss
        /// A fill refused because the key was invalidated after the read.
        case refused
        /// The cache could not be reached (treated as a miss).
        case error
    }

    /// What running a job came to.
    public enum JobResult: String, CaseIterable, Sendable {
        case enqueued, done, retried, buried
    }

    /// The frame types counted inbound: every request type, and `invalid` for a frame that was not one.
    public static let inboundTypes = RequestType.allCases.map(\.rawValue) + ["invalid"]
    /// The histogram of sends per group-commit transaction, and its buckets (powers of two up to the
    /// largest batch a node may be configured to take; the factory must be given them by this label).
    public static let appendBatchLabel = "switchboard_store_append_batch_size"
    public static let appendBatchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    /// The reply frame types counted outbound; events are counted as `event_<envelope kind>`.
    public static let replyTypes = ["ack", "error", "welcome"]

    public init(factory: any MetricsFactory) {
        self.factory = factory
        func counters(_ label: String, _ dimension: String, _ values: [String]) -> [String: Counter] {
            Dictionary(uniqueKeysWithValues: values.map { ($0, Counter(label: label, dimensions: [(dimension, $0)], factory: factory)) })
        }
        connections = Meter(label: "switchboard_connections", factory: factory)
        sessions = Meter(label: "switchboard_sessions", factory: factory)
        relayedConversations = Meter(label: "switchboard_relayed_conversations", factory: factory)
        ready = Meter(label: "switchboard_ready", factory: factory)
        brokerUp = Meter(label: "switchboard_broker_up", factory: factory)
        delivery = Timer(label: "switchboard_delivery_seconds", factory: factory)
        framesIn = counters("switchboard_frames_in_total", "type", Self.inboundTypes)
        framesOut = counters("switchboard_frames_out_total", "type", Self.replyTypes)
        eventsOut = Dictionary(uniqueKeysWithValues: EventKind.allCases.map {
            ($0, Counter(label: "switchboard_frames_out_total", dimensions: [("type", "event_\($0.label)")], factory: factory))
        })
        errors = counters("switchboard_errors_total", "code", ChatError.Code.all.map(\.rawValue))
        let kinds = EventKind.allCases.map(\.label)
        published = counters("switchboard_broker_published_total", "kind", kinds)
        received = counters("switchboard_broker_received_total", "kind", kinds)
        subscriptions = counters("switchboard_broker_subscriptions_total", "op", ["subscribe", "unsubscribe"])
        storeTimers = Lazily { Timer(label: "switchboard_store_seconds", dimensions: [("op", $0)], factory: factory) }
        appendBatches = Recorder(label: Self.appendBatchLabel, factory: factory)
        cacheResults = Dictionary(uniqueKeysWithValues: CacheKey.Kind.allCases.flatMap { key in
            CacheResult.allCases.map { result in
                let dimensions = [("key", key.rawValue), ("result", result.rawValue)]
                return (CacheOutcome(key: key, result: result), Counter(label: "switchboard_cache_total", dimensions: dimensions, factory: factory))
            }
        })
        jobResults = Lazily { outcome in
            Counter(label: "switchboard_jobs_total", dimensions: [("kind", outcome.kind), ("result", outcome.result.rawValue)], factory: factory)
        }
        jobsPending = Lazily { Gauge(label: "switchboard_jobs_pending", dimensions: [("kind", $0)], factory: factory) }
        jobsOldestDue = Gauge(label: "switchboard_jobs_oldest_due_seconds", factory: factory)
        jobsDeadLetters = Gauge(label: "switchboard_jobs_dead_letters", factory: factory)
    }

    /// The store started a group-commit transaction of `items` sends.
    public func appendBatch(_ items: Int) { appendBatches.record(items) }

    /// A metrics object that records nothing (tests and tools that do not scrape).
    public static func discarding() -> NodeMetrics { NodeMetrics(factory: NOOPMetricsHandler.instance) }

    /// A WebSocket opened (authenticated or not).
    public func socketOpened() {
        connections.increment()
        openSockets.add(1, ordering: .relaxed)
    }

    /// A WebSocket closed.
    public func socketClosed() {
        connections.decrement()
        openSockets.subtract(1, ordering: .relaxed)
    }

    /// The WebSockets open now.
    public var sockets: Int { openSockets.load(ordering: .relaxed) }

    public func frameIn(_ type: String) {
        framesIn[type]?.increment()
        framesInTotal.add(1, ordering: .relaxed)
    }
    /// A reply frame (`ack`, `error`, `welcome`) written to a client.
    public func frameOut(_ type: String) { framesOut[type]?.increment() }
    /// An event carried by a `kind` envelope, written to `count` clients.
    func eventsOut(_ kind: EventKind, count: Int) {
        eventsOut[kind]?.increment(by: count)
        eventsOutTotal.add(count, ordering: .relaxed)
    }
    /// An error answered, over WebSocket or REST (only the former is also a frame).
    public func error(_ code: ChatError.Code) {
        errors[code.rawValue]?.increment()
        errorsTotal.withLock { $0[code.rawValue, default: 0] += 1 }
    }

    /// Totals since the node started, for the node's admin report (the same counts Prometheus keeps
    /// by label, summed): frames received, events written, errors answered by code.
    public var totals: (framesIn: Int, eventsOut: Int, errors: [String: Int]) {
        (framesInTotal.load(ordering: .relaxed), eventsOutTotal.load(ordering: .relaxed), errorsTotal.withLock { $0 })
    }
    func published(_ kind: EventKind) { published[kind.label]?.increment() }
    func received(_ kind: EventKind) { received[kind.label]?.increment() }
    func subscription(_ op: String) { subscriptions[op]?.increment() }
    func cache(_ key: CacheKey, _ result: CacheResult) { cacheResults[CacheOutcome(key: key.kind, result: result)]?.increment() }
    /// A job of `kind` ran; kinds are the node's handlers' (and whatever unknown kind it buried).
    func job(_ kind: String, _ result: JobResult) { jobResults.get(JobOutcome(kind: kind, result: result)).increment() }
    /// Makes the counters of a job kind the node runs, so they are exported at zero before a job ran
    /// (as Prometheus expects of a series that exists).
    func expectJobs(of kind: String) {
        for result in JobResult.allCases { _ = jobResults.get(JobOutcome(kind: kind, result: result)) }
        jobKindsSeen.withLock { _ = $0.insert(kind) }
        jobsPending.get(kind).record(0)
    }

    /// The queue as the runner saw it at `now`: pending jobs by kind (a kind seen before and now absent
    /// reads 0), how long the oldest due job has waited, the dead letters.
    func jobQueue(_ stats: JobQueueStats, now: Timestamp) {
        let kinds = jobKindsSeen.withLock { seen in
            seen.formUnion(stats.pending.keys)
            return seen
        }
        for kind in kinds { jobsPending.get(kind).record(stats.pending[kind] ?? 0) }
        let waited = stats.earliestDue.map { max(0, now.milliseconds - $0.milliseconds) } ?? 0
        jobsOldestDue.record(Double(waited) / 1000)
        jobsDeadLetters.record(stats.deadLetters)
    }

    /// Times one store call under `op`.
    func timeStore<T>(_ op: StaticString, _ body: () async throws -> T) async rethrows -> T {
        let start = ContinuousClock.now
        defer { storeTimers.get(String(describing: op)).recordNanoseconds((ContinuousClock.now - start).nanoseconds) }
        return try await body()
    }
}

/// One metric per label set, made on first use: for label sets that are small but not known up front
/// (store operations, job kinds).
private final class Lazily<Key: Hashable & Sendable, Metric: Sendable>: Sendable {
    private let make: @Sendable (Key) -> Metric
    private let made: Mutex<[Key: Metric]> = Mutex([:])
    init(_ make: @escaping @Sendable (Key) -> Metric) { self.make = make }
    func get(_ key: Key) -> Metric {
        made.withLock { made in
            if let metric = made[key] { return metric }
            let metric = make(key)
            made[key] = metric
            return metric
        }
    }
}

extension Duration {
    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

extension EventKind {
    /// A readable label for metrics.
    public var label: String {
        switch self {
        case .message: "message"
        case .conversationUpdated: "conversation_updated"
        case .joined: "joined"
        case .left: "left"
        case .signal: "signal"
        case .signalOthers: "signal_others"
        case .notice: "notice"
        case .presence: "presence"
        case .desk: "desk"
        }
    }
}
