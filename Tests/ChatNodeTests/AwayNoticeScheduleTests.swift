import ChatCore
import ChatTesting
import EmbeddedEngine
import Foundation
import Logging
import Testing

@testable import ChatNode

/// A node schedules each conversation's notice window once: later posts of the window cost no round
/// trip to the queue, a new window is scheduled, and a failed enqueue is tried again by the next post.
@Suite struct AwayNoticeScheduleTests {
    /// The embedded queue, counting the enqueues it is asked for and failing while `failing` is set.
    final class CountingQueue: JobQueue, @unchecked Sendable {
        let queue: MemoryJobQueue
        let enqueues = Recorder<String>()
        var failing = false

        let clock: ManualClock

        init(clock: ManualClock) {
            self.clock = clock
            queue = MemoryJobQueue(clock: clock)
        }

        func enqueue(_ job: Job, due: Timestamp) async throws {
            enqueues.record(job.id)
            if failing { throw ChatError.unavailable("the queue is down") }
            try await queue.enqueue(job, due: due)
        }
        func claim(worker: String, visibility: Duration) async throws -> JobClaim? { await queue.claim(worker: worker, visibility: visibility) }
        func complete(_ claim: JobClaim) async throws -> Bool { await queue.complete(claim) }
        func retry(_ claim: JobClaim, at: Timestamp) async throws -> Bool { await queue.retry(claim, at: at) }
        func bury(_ claim: JobClaim, reason: String) async throws -> Bool { await queue.bury(claim, reason: reason) }
        func deadLetters(limit: Int) async throws -> [Job] { await queue.deadLetters(limit: limit) }
        func replace(_ job: Job, due: Timestamp) async throws { try await queue.replace(job, due: due) }
        func requeueDeadLetter(_ id: String, due: Timestamp) async throws -> Bool { try await queue.requeueDeadLetter(id, due: due) }
        func dropDeadLetter(_ id: String) async throws -> Bool { await queue.dropDeadLetter(id) }
        func stats() async throws -> JobQueueStats { await queue.stats() }
    }

    struct NoNotifier: AwayNotifier {
        func deliver(_ notice: AwayNotice) async throws { Issue.record("no notice is due in this test") }
    }

    @Test func eachWindowIsEnqueuedOnceAndAFailureIsTriedAgain() async throws {
        let clock = ManualClock()
        let queue = CountingQueue(clock: clock)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notices-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try await SQLiteStore.open(directory: directory, logger: Logger(label: "test"))
        try await check(queue, store)
        await store.close()
    }

    private func check(_ queue: CountingQueue, _ store: SQLiteStore) async throws {
        let clock = queue.clock
        let notices = AwayNotices(
            queue: queue, store: store, presence: MemoryPresence(clock: clock), notifier: NoNotifier(), clock: clock, delay: .seconds(10),
            logger: Logger(label: "test"))
        let a = ConversationID("c_a")!, b = ConversationID("c_b")!
        await notices.postStored(in: a)
        await notices.postStored(in: a)
        await notices.postStored(in: b)
        #expect(queue.enqueues.count == 2, "a's second post joined its window without a round trip")
        clock.advance(by: .seconds(10))
        queue.failing = true
        await notices.postStored(in: a)
        queue.failing = false
        await notices.postStored(in: a)
        await notices.postStored(in: a)
        let ids = queue.enqueues.all
        #expect(ids.count == 4, "the next window is scheduled; the failed attempt is tried again once, then remembered")
        #expect(ids[2] == ids[3] && ids[2] != ids[0])
    }

    @Test func theMemoryIsBounded() {
        let windows = ScheduledWindows(capacity: 3)
        for index in 0..<3 { windows.insert(ConversationID("c_\(index)")!, window: 0) }
        windows.insert(ConversationID("c_3")!, window: 10)
        #expect(windows.count == 1, "the older windows went first")
        #expect(windows.contains(ConversationID("c_3")!, window: 10))
        for index in 4..<7 { windows.insert(ConversationID("c_\(index)")!, window: 10) }
        #expect(windows.count <= 3)
    }
}
