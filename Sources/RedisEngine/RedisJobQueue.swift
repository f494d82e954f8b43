import ChatCore
import RedisClient

/// The ``JobQueue`` on Redis, shared by every node: each operation is one Lua script
/// (`Scripts/job_queue.lua`) over keys under `PREFIX:{jobs}` (one hash slot). Jobs survive the node
/// that scheduled them; any node's runner may claim them.
///
/// Times come from the injected clock of the node that calls (due times, claim deadlines), not from
/// Redis, as in the embedded queue: node clocks are assumed in step to well under the visibility
/// timeout. Bounded like the embedded queue: at most `capacity` pending or claimed jobs (one more is
/// refused with `unavailable`) and `deadLetterCapacity` dead letters (the oldest dropped first).
public struct RedisJobQueue: JobQueue {
    static let script = RedisScript(String(decoding: PackageResources.job_queue_lua, as: UTF8.self))
    private let client: any RedisCommands
    private let base: String
    private let clock: any WallClock
    private let capacity: Int
    private let deadLetterCapacity: Int

    public init(client: any RedisCommands, prefix: String, clock: any WallClock, capacity: Int = 100_000, deadLetterCapacity: Int = 10_000) {
        self.client = client
        self.base = "\(prefix):{jobs}"
        self.clock = clock
        self.capacity = max(1, capacity)
        self.deadLetterCapacity = max(1, deadLetterCapacity)
    }

    public func enqueue(_ job: Job, due: Timestamp) async throws {
        let stored = try await run(
            "enqueue", RedisArgument(job.id), RedisArgument(job.kind), RedisArgument(job.payload), RedisArgument(job.attempt),
            RedisArgument(due.milliseconds), RedisArgument(capacity))
        if stored == .integer(-1) { throw ChatError.unavailable("the job queue is full") }
    }

    public func replace(_ job: Job, due: Timestamp) async throws {
        let stored = try await run(
            "replace", RedisArgument(job.id), RedisArgument(job.kind), RedisArgument(job.payload), RedisArgument(due.milliseconds),
            RedisArgument(capacity))
        if stored == .integer(-1) { throw ChatError.unavailable("the job queue is full") }
    }

    public func claim(worker: String, visibility: Duration) async throws -> JobClaim? {
        let now = clock.now()
        let deadline = now.advanced(by: visibility)
        let reply = try await run("claim", RedisArgument(now.milliseconds), RedisArgument(deadline.milliseconds), RedisArgument(worker))
        guard reply != .null else { return nil }
        guard let fields = reply.array, fields.count == 4, let id = fields[0].string, let kind = fields[1].string,
            let payload = fields[2].bytes, let attempt = fields[3].int
        else { throw ChatError.internal("the job queue script answered \(reply)") }
        return JobClaim(job: Job(id: id, kind: kind, payload: payload, attempt: Int(attempt)), worker: worker, deadline: deadline)
    }

    public func complete(_ claim: JobClaim) async throws -> Bool {
        try await run("complete", RedisArgument(claim.job.id), Self.token(claim)) == .integer(1)
    }

    public func retry(_ claim: JobClaim, at: Timestamp) async throws -> Bool {
        try await run("retry", RedisArgument(claim.job.id), Self.token(claim), RedisArgument(at.milliseconds)) == .integer(1)
    }

    public func bury(_ claim: JobClaim, reason: String) async throws -> Bool {
        try await run("bury", RedisArgument(claim.job.id), Self.token(claim), RedisArgument(deadLetterCapacity)) == .integer(1)
    }

    /// The newest `limit` dead letters, oldest first (as the embedded queue lists them).
    public func deadLetters(limit: Int) async throws -> [Job] {
        guard limit > 0 else { return [] }
        let reply = try await mappingRedisErrors {
            try await client.execute(["LRANGE", RedisArgument(base + ":dead"), 0, RedisArgument(limit - 1)])
        }
        return try (reply.array ?? []).reversed().map { entry in
            guard let bytes = entry.bytes, let job = Self.deadLetter(bytes) else {
                throw ChatError.internal("a dead letter in Redis is not one")
            }
            return job
        }
    }

    public func requeueDeadLetter(_ id: String, due: Timestamp) async throws -> Bool {
        switch try await run("requeue-dead", RedisArgument(id), RedisArgument(due.milliseconds), RedisArgument(capacity)) {
        case .integer(1): return true
        case .integer(-1): throw ChatError.unavailable("the job queue is full")
        case .integer(-2): throw ChatError.conflict("a job with id \(id) is already pending")
        default: return false
        }
    }

    public func dropDeadLetter(_ id: String) async throws -> Bool {
        try await run("drop-dead", RedisArgument(id)) == .integer(1)
    }

    public func stats() async throws -> JobQueueStats {
        let reply = try await run("stats")
        guard let parts = reply.array, parts.count == 3, let counts = parts[0].array, let dead = parts[2].int else {
            throw ChatError.internal("the job queue script answered \(reply)")
        }
        var pending: [String: Int] = [:]
        for index in stride(from: 0, to: counts.count - 1, by: 2) {
            if let kind = counts[index].string, let count = counts[index + 1].int { pending[kind] = Int(count) }
        }
        return JobQueueStats(pending: pending, earliestDue: parts[1].int.map { Timestamp(milliseconds: $0) }, deadLetters: Int(dead))
    }

    /// The claim's identity in Redis: its worker and deadline.
    private static func token(_ claim: JobClaim) -> RedisArgument {
        RedisArgument("\(claim.worker)\n\(claim.deadline.milliseconds)")
    }

    private func run(_ operation: String, _ arguments: RedisArgument...) async throws -> RESPValue {
        try await mappingRedisErrors {
            try await client.run(Self.script, keys: [RedisArgument(base)], arguments: [RedisArgument(operation)] + arguments)
        }
    }

    /// Parses `attempt\nidLength\nkindLength\n` + id + kind + payload.
    static func deadLetter(_ bytes: [UInt8]) -> Job? {
        var numbers: [Int] = []
        var index = bytes.startIndex
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
        return Job(id: id, kind: kind, payload: Array(bytes[(index + idLength + kindLength)...]), attempt: attempt)
    }
}
