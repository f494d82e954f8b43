@testable import RedisClient
import Synchronization
import Testing

/// ``SingleFlight``: callers that ask while a run is in progress share its result; the run is the
/// leading caller's own work, and its cancellation is never handed to the others.
@Suite struct SingleFlightTests {
    @Test func callersDuringARunShareItAndALaterCallerRunsAgain() async throws {
        let flight = SingleFlight<Int>()
        let runs = Runs()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let results = await withTaskGroup(of: Int?.self, returning: [Int?].self) { group in
            for _ in 0..<5 {
                group.addTask {
                    try? await flight.run { () async throws(RedisError) -> Int in
                        runs.count.add(1, ordering: .relaxed)
                        for await _ in gate { break }
                        return 42
                    }
                }
            }
            while flight.waiters < 4 { await Task.yield() }
            open.yield()
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == Array(repeating: 42, count: 5))
        #expect(runs.count.load(ordering: .relaxed) == 1, "one run for the five callers")
        let later = try await flight.run { () async throws(RedisError) -> Int in
            runs.count.add(1, ordering: .relaxed)
            return 7
        }
        #expect(later == 7 && runs.count.load(ordering: .relaxed) == 2)
    }

    @Test func aCancelledLeaderHandsTheRunOnInsteadOfItsResult() async throws {
        let flight = SingleFlight<Int>()
        let runs = Runs()
        let body = { @Sendable () async throws(RedisError) -> Int in
            // The first run waits until its caller is cancelled and fails for it; the next one answers.
            guard runs.count.add(1, ordering: .relaxed).newValue > 1 else {
                let (never, _) = AsyncStream.makeStream(of: Void.self)
                for await _ in never {}
                throw RedisError.timeout
            }
            return 7
        }
        let leader = Task { try await flight.run(body) }
        while runs.count.load(ordering: .relaxed) == 0 { await Task.yield() }
        async let first = flight.run(body)
        async let second = flight.run(body)
        while flight.waiters < 2 { await Task.yield() }
        leader.cancel()
        await #expect(throws: RedisError.self) { try await leader.value }
        let answers = try await [first, second]
        #expect(answers == [7, 7], "the waiters got a run of their own, not the cancelled leader's failure")
        // One waiter leads the next run; the other joins it, or runs after it if that run ended first.
        #expect((2...3).contains(runs.count.load(ordering: .relaxed)))
    }
}

/// How many runs began, shared by the callers' tasks.
private final class Runs: Sendable {
    let count = Atomic<Int>(0)
}
