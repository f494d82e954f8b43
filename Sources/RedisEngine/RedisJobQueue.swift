import ChatCore
import RedisClient

/// The ``JobQueue`` on Redis, shared by every node: each operation is one Lua script
/// (`Scripts/job_queue.lua`) over keys under `PREFIX:{jobs}` (one hash slot) on one server; on a Redis
/// Cluster the queue is split over partitions, `PREFIX:{jobs:K}` (K from a stable hash of the job's
/// id), so it spreads over the shards while each script still touches one slot. Jobs survive the node
/// that scheduled them; any node's runner may claim them.
///
/// Times come from the injected clock of the node that calls (due times, claim deadlines), not from
/// Redis, as in the embedded queue: node clocks are assumed in step to well under the visibility
/// timeout. Bounded like the embedded queue: at most `capacity` pending or claimed jobs (one more is
/// refused with `unavailable`) and `deadLetterCapacity` dead letters (the oldest dropped first); split
/// over partitions, each holds its even share of both. With partitions, a claim first reads each
/// partition's earliest due job (one pipelined read) and claims from the partition whose job is due
/// first, so jobs are still claimed in due order; dead letters carry their burial time and are listed
/// merged by it. The partition count must be the same on every node of a deployment.
public struct RedisJobQueue: JobQueue {
    static let script = RedisScript(String(decoding: PackageResources.job_queue_lua, as: UTF8.self))
    private let client: any RedisCommands
    private let partitions: HashTagPartitions
    private let clock: any WallClock
    /// Per partition.
    private let capacity: Int
    /// Per partition.
    private let deadLetterCapacity: Int

    /// `spread`: split over ``HashTagPartitions/onCluster`` partitions (a Redis Cluster), else one.
    public init(
        client: any RedisCommands, prefix: String, clock: any WallClock, capacity: Int = 100_000, deadLetterCapacity: Int = 10_000,
        spread: Bool = false
    ) {
        let count = spread ? HashTagPartitions.onCluster : 1
        self.client = client
        self.partitions = HashTagPartitions(prefix: prefix, name: "jobs", count: count)
        self.clock = clock
        self.capacity = (max(1, capacity) + count - 1) / count
        self.deadLetterCapacity = (max(1, deadLetterCapacity) + count - 1) / count
    }

    private var bases: [String] { partitions.bases }

    /// The partition job `id` lives in (and is buried in).
    private func base(of id: String) -> String { partitions.base(of: id) }

    public func enqueue(_ job: Job, due: Timestamp) async throws {
        let stored = try await run(
            in: base(of: job.id), "enqueue", RedisArgument(job.id), RedisArgument(job.kind), RedisArgument(job.payload), RedisArgument(job.attempt),
            RedisArgument(due.milliseconds), RedisArgument(capacity))
        if stored == .integer(-1) { throw ChatError.unavailable("the job queue is full") }
    }

    public func replace(_ job: Job, due: Timestamp) async throws {
        let stored = try await run(
            in: base(of: job.id), "replace", RedisArgument(job.id), RedisArgument(job.kind), RedisArgument(job.payload),
            RedisArgument(due.milliseconds), RedisArgument(capacity))
        if stored == .integer(-1) { throw ChatError.unavailable("the job queue is full") }
    }

    public func claim(worker: String, visibility: Duration) async throws -> JobClaim? {
        let now = clock.now()
        let deadline = now.advanced(by: visibility)
        for base in try await dueFirst(at: now) {
            let reply = try await run(in: base, "claim", RedisArgument(now.milliseconds), RedisArgument(deadline.milliseconds), RedisArgument(worker))
            // Another worker took that partition's job since it was read: the next partition's.
            guard reply != .null else { continue }
            guard let fields = reply.array, fields.count == 4, let id = fields[0].string, let kind = fields[1].string,
                let payload = fields[2].bytes, let attempt = fields[3].int
            else { throw ChatError.internal("the job queue script answered \(reply)") }
            return JobClaim(job: Job(id: id, kind: kind, payload: payload, attempt: Int(attempt)), worker: worker, deadline: deadline)
        }
        return nil
    }

    /// The partitions with a job due at `now`, the one whose job is due first first (the one partition,
    /// unread, when there is only one).
    private func dueFirst(at now: Timestamp) async throws -> [String] {
        guard bases.count > 1 else { return bases }
        let heads = try await mappingRedisErrors {
            try await client.send(
                bases.map { ["ZRANGEBYSCORE", RedisArgument($0 + ":due"), "-inf", RedisArgument(now.milliseconds), "LIMIT", 0, 1, "WITHSCORES"] })
        }
        var due: [(base: String, at: Double)] = []
        for (base, head) in zip(bases, heads) {
            let parts = try await mappingRedisErrors { try head.checked().array ?? [] }
            if parts.count == 2, let at = parts[1].string.flatMap(Double.init) { due.append((base, at)) }
        }
        return due.sorted { $0.at < $1.at }.map(\.base)
    }

    public func complete(_ claim: JobClaim) async throws -> Bool {
        try await run(in: base(of: claim.job.id), "complete", RedisArgument(claim.job.id), Self.token(claim)) == .integer(1)
    }

    public func retry(_ claim: JobClaim, at: Timestamp) async throws -> Bool {
        try await run(in: base(of: claim.job.id), "retry", RedisArgument(claim.job.id), Self.token(claim), RedisArgument(at.milliseconds)) == .integer(1)
    }

    public func bury(_ claim: JobClaim, reason: String) async throws -> Bool {
        try await run(
            in: base(of: claim.job.id), "bury", RedisArgument(claim.job.id), Self.token(claim), RedisArgument(deadLetterCapacity),
            bases.count > 1 ? "stamped" : "") == .integer(1)
    }

    /// The newest `limit` dead letters, oldest first (as the embedded queue lists them); with
    /// partitions, their lists merged by burial time.
    public func deadLetters(limit: Int) async throws -> [Job] {
        guard limit > 0 else { return [] }
        let replies = try await mappingRedisErrors {
            try await client.send(bases.map { ["LRANGE", RedisArgument($0 + ":dead"), 0, RedisArgument(limit - 1)] })
        }
        // Each list is newest first; take the newest head of all until `limit`.
        var lists: [ArraySlice<(buried: Int64?, job: Job)>] = []
        for reply in replies {
            var letters: [(buried: Int64?, job: Job)] = []
            for entry in try await mappingRedisErrors({ try reply.checked().array ?? [] }) {
                guard let bytes = entry.bytes, let letter = Self.deadLetter(bytes) else { throw ChatError.internal("a dead letter in Redis is not one") }
                letters.append(letter)
            }
            lists.append(letters[...])
        }
        var newestFirst: [Job] = []
        while newestFirst.count < limit {
            guard let list = lists.indices.filter({ !lists[$0].isEmpty }).max(by: { (lists[$0].first!.buried ?? 0) < (lists[$1].first!.buried ?? 0) })
            else { break }
            newestFirst.append(lists[list].removeFirst().job)
        }
        return newestFirst.reversed()
    }

    public func requeueDeadLetter(_ id: String, due: Timestamp) async throws -> Bool {
        switch try await run(in: base(of: id), "requeue-dead", RedisArgument(id), RedisArgument(due.milliseconds), RedisArgument(capacity)) {
        case .integer(1): return true
        case .integer(-1): throw ChatError.unavailable("the job queue is full")
        case .integer(-2): throw ChatError.conflict("a job with id \(id) is already pending")
        default: return false
        }
    }

    public func dropDeadLetter(_ id: String) async throws -> Bool {
        try await run(in: base(of: id), "drop-dead", RedisArgument(id)) == .integer(1)
    }

    public func stats() async throws -> JobQueueStats {
        let replies = try await mappingRedisErrors {
            try await client.run(Self.script, calls: bases.map { ([RedisArgument($0)], ["stats"]) })
        }
        var pending: [String: Int] = [:]
        var earliest: Int64?
        var dead = 0
        for reply in replies {
            guard let parts = reply.array, parts.count == 3, let counts = parts[0].array, let letters = parts[2].int else {
                throw ChatError.internal("the job queue script answered \(reply)")
            }
            for index in stride(from: 0, to: counts.count - 1, by: 2) {
                if let kind = counts[index].string, let count = counts[index + 1].int { pending[kind, default: 0] += Int(count) }
            }
            if let due = parts[1].int { earliest = min(earliest ?? due, due) }
            dead += Int(letters)
        }
        return JobQueueStats(pending: pending, earliestDue: earliest.map { Timestamp(milliseconds: $0) }, deadLetters: dead)
    }

    /// The claim's identity in Redis: its worker and deadline.
    private static func token(_ claim: JobClaim) -> RedisArgument {
        RedisArgument("\(claim.worker)\n\(claim.deadline.milliseconds)")
    }

    private func run(in base: String, _ operation: String, _ arguments: RedisArgument...) async throws -> RESPValue {
        try await mappingRedisErrors {
            try await client.run(Self.script, keys: [RedisArgument(base)], arguments: [RedisArgument(operation)] + arguments)
        }
    }

    /// Parses `attempt\nidLength\nkindLength\n` + id + kind + payload, after `t` + burial time (µs) +
    /// `\n` when the entry has one.
    static func deadLetter(_ bytes: [UInt8]) -> (buried: Int64?, job: Job)? {
        var index = bytes.startIndex
        var buried: Int64?
        if bytes.first == UInt8(ascii: "t") {
            guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")), let time = Int64(String(decoding: bytes[1..<newline], as: UTF8.self)) else {
                return nil
            }
            buried = time
            index = newline + 1
        }
        var numbers: [Int] = []
        while numbers.count < 3 {
            guard let newline = bytes[index...].firstIndex(of: UInt8(ascii: "\n")),
                let number = Int(String(decoding: bytes[index..<newline], as: UTF8.self))
            else { return nil }
            numbers.append(number)
            index = newline + 1
        }
        let (attempt, idLength, kindLength) = (numbers[0], numbers[1], numbers[2])
        guard idLength >= 0, kindLength >= 0, bytes.count - index >= idLength + kindLength else { return nil }
        let id = String(decoding: bytes[index..<index + idLength], as: UTF8.self)
        let kind = String(decoding: bytes[index + idLength..<index + idLength + kindLength], as: UTF8.self)
        return (buried, Job(id: id, kind: kind, payload: Array(bytes[(index + idLength + kindLength)...]), attempt: attempt))
    }
}
