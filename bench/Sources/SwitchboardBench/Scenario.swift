import Foundation

/// A scenario file's parameters (bench/scenarios/*.json). Every field but `scenario` has a default, so
/// a file names only what it changes; flags on the command line override the file.
struct Scenario: Codable, Sendable {
    /// `fanout`, `ramp` (steps `messagesPerSecond` up until the node saturates), `churn` (fanout while
    /// connections drop and come back), `connect` (idle connections only), `typing` (ephemeral
    /// events only) or `history` (paged reads of stored conversations).
    var scenario: String = "fanout"
    /// Connected users, one WebSocket each, spread over the nodes round-robin.
    var users: Int = 200
    /// Participants per group conversation; users are cut into `users / groupSize` groups.
    var groupSize: Int = 10
    /// Messages each conversation receives per second (one sender per conversation, on schedule); for
    /// `typing`, signals per conversation (the members take turns); for `history`, page reads.
    var messagesPerSecond: Double = 10
    /// How long the senders send.
    var durationSeconds: Double = 10
    /// How long receivers may take after the last send before a missing delivery counts as lost.
    var graceSeconds: Double = 10
    /// Messages sent in the first seconds count for loss but not for latency (pools filling, caches
    /// cold: a short step's p99 would be the start's).
    var warmupSeconds: Double = 1
    /// Size of each message's content (the send time and padding).
    var contentBytes: Int = 100
    /// `ramp`: the factor by which each step raises the rate, and the most steps.
    var rampFactor: Double = 1.5
    var rampSteps: Int = 12
    /// `ramp`: the saturation criteria, checked after each step.
    var p99LimitMilliseconds: Double = 20
    /// `churn`: connections dropped per second (each comes back, resuming, as a mobile client does).
    var churnPerSecond: Double = 0
    /// Members of each conversation who take turns sending (1: its first member sends everything; more
    /// make a busy room, whose sends reach the store at once).
    var sendersPerConversation: Int = 1
    /// `typing`: the nodes' `typing.throttle.ms`. Each member's turn comes at most once per two of
    /// these, so that no signal is dropped by design.
    var typingThrottleMilliseconds: Double = 2000
    /// `history`: messages posted into each conversation before the reads, and entries per page.
    var historyMessages: Int = 200
    var pageSize: Int = 50

    init() {}

    init(from decoder: any Decoder) throws {
        let defaults = Scenario()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        scenario = try container.decodeIfPresent(String.self, forKey: .scenario) ?? defaults.scenario
        users = try container.decodeIfPresent(Int.self, forKey: .users) ?? defaults.users
        groupSize = try container.decodeIfPresent(Int.self, forKey: .groupSize) ?? defaults.groupSize
        messagesPerSecond = try container.decodeIfPresent(Double.self, forKey: .messagesPerSecond) ?? defaults.messagesPerSecond
        durationSeconds = try container.decodeIfPresent(Double.self, forKey: .durationSeconds) ?? defaults.durationSeconds
        graceSeconds = try container.decodeIfPresent(Double.self, forKey: .graceSeconds) ?? defaults.graceSeconds
        warmupSeconds = try container.decodeIfPresent(Double.self, forKey: .warmupSeconds) ?? defaults.warmupSeconds
        contentBytes = try container.decodeIfPresent(Int.self, forKey: .contentBytes) ?? defaults.contentBytes
        rampFactor = try container.decodeIfPresent(Double.self, forKey: .rampFactor) ?? defaults.rampFactor
        rampSteps = try container.decodeIfPresent(Int.self, forKey: .rampSteps) ?? defaults.rampSteps
        p99LimitMilliseconds = try container.decodeIfPresent(Double.self, forKey: .p99LimitMilliseconds) ?? defaults.p99LimitMilliseconds
        churnPerSecond = try container.decodeIfPresent(Double.self, forKey: .churnPerSecond) ?? defaults.churnPerSecond
        sendersPerConversation = try container.decodeIfPresent(Int.self, forKey: .sendersPerConversation) ?? defaults.sendersPerConversation
        typingThrottleMilliseconds =
            try container.decodeIfPresent(Double.self, forKey: .typingThrottleMilliseconds) ?? defaults.typingThrottleMilliseconds
        historyMessages = try container.decodeIfPresent(Int.self, forKey: .historyMessages) ?? defaults.historyMessages
        pageSize = try container.decodeIfPresent(Int.self, forKey: .pageSize) ?? defaults.pageSize
    }

    static func load(_ path: String) throws -> Scenario {
        try JSONDecoder().decode(Scenario.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static let kinds = ["fanout", "ramp", "churn", "connect", "typing", "history"]

    /// Conversations the users make up.
    var conversations: Int { users / groupSize }

    /// Refuses parameters that cannot run, naming the field.
    func validate() throws {
        guard Self.kinds.contains(scenario) else {
            throw BenchError("scenario '\(scenario)' is not one this harness runs (\(Self.kinds.joined(separator: ", ")))")
        }
        if scenario == "typing", Double(groupSize) / messagesPerSecond * 1000 < 2 * typingThrottleMilliseconds {
            throw BenchError(
                "typing: each member would type every \(fmt(Double(groupSize) / messagesPerSecond * 1000)) ms, under twice typingThrottleMilliseconds (\(fmt(typingThrottleMilliseconds))): the node would drop signals by design")
        }
        if scenario == "history" {
            guard historyMessages >= 1, historyMessages <= 100_000, pageSize >= 1, pageSize <= 1000 else {
                throw BenchError("history: historyMessages must be 1...100000 and pageSize 1...1000")
            }
        }
        guard churnPerSecond >= 0 else { throw BenchError("churnPerSecond must not be negative") }
        guard sendersPerConversation >= 1, sendersPerConversation <= groupSize else {
            throw BenchError("sendersPerConversation must be 1...groupSize")
        }
        guard groupSize >= 2, groupSize <= 1000 else { throw BenchError("groupSize must be 2...1000") }
        guard users >= groupSize else { throw BenchError("users must be at least groupSize") }
        guard warmupSeconds >= 0, scenario == "connect" || warmupSeconds < durationSeconds else {
            throw BenchError("warmupSeconds must be 0 or more, below durationSeconds")
        }
        guard messagesPerSecond > 0, durationSeconds > 0, graceSeconds >= 0 else {
            throw BenchError("messagesPerSecond and durationSeconds must be positive, graceSeconds not negative")
        }
        guard contentBytes >= 24, contentBytes <= 16_000 else { throw BenchError("contentBytes must be 24...16000") }
    }
}

/// A harness failure with a message for the operator.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
