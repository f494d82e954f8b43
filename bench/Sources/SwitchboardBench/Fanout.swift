import BenchAccounting
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A node the harness talks to.
struct NodeTarget: Sendable {
    var host: String
    var port: Int

    init(url: String) throws {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port else {
            throw BenchError("'\(url)' is not a node URL like http://127.0.0.1:8080")
        }
        self.host = host
        self.port = port
    }
}

/// One `fanout` run: `users` sockets spread over the nodes, cut into groups of `groupSize`; in each
/// group one sender posts `rate` messages a second on a fixed schedule (open loop: a slow node makes
/// the senders fall behind, which the report shows, instead of slowing the offered load) for
/// `duration`; every participant's socket counts what it is shown. Then the run waits up to `grace`
/// for the last deliveries.
struct FanoutRun: Sendable {
    let scenario: Scenario
    let rate: Double
    let nodes: [NodeTarget]
    let tokens: TokenSource
    let group: MultiThreadedEventLoopGroup
    let recorder: Recorder
    /// A drill's fault, done while the senders send.
    let fault: Fault?
    /// Printed once a second while the senders run (and the grace lasts).
    let progress: @Sendable (Recorder.Sample, Tally?) -> Void

    struct Outcome: Sendable {
        /// From the first send until every expected delivery arrived, or the grace ended.
        var deliverySeconds: Double
    }

    func run() async throws -> Outcome {
        let joined = Counter()
        let users = try BenchUser.make(
            scenario.users, prefix: "b", nodes: nodes, tokens: tokens, group: group, recorder: recorder, joined: joined)
        defer { for user in users { user.stop() } }
        try await BenchUser.connect(users)

        // Groups: consecutive users; each group's first member creates it and sends into it.
        let groups = stride(from: 0, to: scenario.conversations * scenario.groupSize, by: scenario.groupSize).map {
            Array(users[$0..<($0 + scenario.groupSize)])
        }
        let conversations = try await create(groups)
        try await waitFor("every participant told of its conversations", timeout: 60) {
            joined.value >= groups.count * scenario.groupSize
        }

        let start = Recorder.now()
        recorder.began(at: start, receivers: groups.count * scenario.groupSize, warmup: scenario.warmupSeconds)
        let stop = start + UInt64(scenario.durationSeconds * 1e9)
        let interval = UInt64(1e9 / rate)
        let padding = String(repeating: "x", count: max(0, scenario.contentBytes - 20))
        for (index, members) in groups.enumerated() {
            let sender = members[0]
            let offset = UInt64.random(in: 0..<interval)
            sender.loop.execute {
                schedule(sender, conversation: conversations[index], number: 0, first: start + offset, interval: interval, stop: stop, padding: padding, tag: index)
            }
        }
        let faults = Task { try await fault?.run(recorder: recorder, start: start) }
        defer { faults.cancel() }
        let everyone = users
        let churn = Task { [scenario] in
            guard scenario.churnPerSecond > 0 else { return }
            let pause = Duration.nanoseconds(Int64(1e9 / scenario.churnPerSecond))
            while Recorder.now() < stop {
                try await Task.sleep(for: pause)
                everyone.randomElement()?.churn()
            }
        }
        defer { churn.cancel() }
        while Recorder.now() < stop {
            try await Task.sleep(for: .seconds(1))
            progress(recorder.tick(), nil)
        }
        try await faults.value
        // The grace: until every send was acknowledged and every acknowledged message reached every
        // participant, or time is up.
        let graceEnd = Recorder.now() + UInt64(scenario.graceSeconds * 1e9)
        var lastTick = Recorder.now()
        while !recorder.settled(), Recorder.now() < graceEnd {
            try await Task.sleep(for: .milliseconds(100))
            if Recorder.now() - lastTick >= 1_000_000_000 {
                lastTick = Recorder.now()
                progress(recorder.tick(), recorder.tally())
            }
        }
        let deliverySeconds = Double(Recorder.now() - start) / 1e9
        return Outcome(deliverySeconds: deliverySeconds)
    }

    /// Sends message `number` of a conversation when it is due, then schedules the next (on the
    /// sender's loop, by absolute deadline, so the rate does not drift).
    private func schedule(
        _ sender: BenchUser, conversation: String, number: Int, first: UInt64, interval: UInt64, stop: UInt64, padding: String, tag: Int
    ) {
        let due = first + UInt64(number) * interval
        guard due < stop else { return }
        let now = Recorder.now()
        if due > now {
            sender.loop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(due)) {
                schedule(sender, conversation: conversation, number: number, first: first, interval: interval, stop: stop, padding: padding, tag: tag)
            }
            return
        }
        let sentAt = Recorder.now()
        recorder.sent(lag: sentAt - due)
        sender.send(BenchUser.Send(conversation: conversation, clientID: "k\(tag)-\(number)", content: "\(sentAt) \(padding)", sentAt: sentAt))
        schedule(sender, conversation: conversation, number: number + 1, first: first, interval: interval, stop: stop, padding: padding, tag: tag)
    }

    /// Creates one group per member list (its first member creates it); returns the conversation ids.
    private func create(_ groups: [[BenchUser]]) async throws -> [String] {
        var ids: [String] = []
        for batch in stride(from: 0, to: groups.count, by: 64) {
            let creating = groups[batch..<min(batch + 64, groups.count)].map { members in
                let others = members.dropFirst().map { "\"\($0.name)\"" }.joined(separator: ",")
                return members[0].request("conversation.create_group", payload: #"{"title":"bench","participants":[\#(others)]}"#)
            }
            for (offset, future) in creating.enumerated() {
                let frame = try await future.get()
                guard FrameScanner(frame).string("type") == "ack", let id = FrameScanner(frame).string("id") else {
                    throw BenchError("creating a group failed: \(String(buffer: frame))")
                }
                ids.append(String(id))
                recorder.join(groups[batch + offset].map { Ledger.Receiver(user: $0.name) }, to: String(id))
            }
        }
        return ids
    }
}

/// Waits until `condition` holds, checking every 50 ms, for at most `timeout` seconds.
func waitFor(_ what: String, timeout: Double, _ condition: () -> Bool) async throws {
    let deadline = Recorder.now() + UInt64(timeout * 1e9)
    while !condition() {
        guard Recorder.now() < deadline else { throw BenchError("timed out waiting: \(what)") }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// A count shared by the loops.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    func increment() { atomic.add(1, ordering: .relaxed) }
    var value: Int { atomic.load(ordering: .relaxed) }
}
