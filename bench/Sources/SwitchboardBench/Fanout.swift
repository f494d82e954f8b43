import BenchAccounting
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Where and how the harness's users connect: the nodes (round-robin), their tokens, the harness's
/// event loops, and the local addresses connections come from (several 127.0.0.x, so that one
/// address's ephemeral ports are not the limit on how many connections a run holds).
struct Fleet: Sendable {
    var nodes: [NodeTarget]
    var tokens: TokenSource
    var group: MultiThreadedEventLoopGroup
    var sources: [SocketAddress]

    /// Comma-separated IP addresses (`127.0.0.1,127.0.0.2`), or none.
    static func sources(_ list: String) throws -> [SocketAddress] {
        try list.split(separator: ",").map { try SocketAddress(ipAddress: String($0), port: 0) }
    }
}

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
    let fleet: Fleet
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
        let users = try BenchUser.make(scenario.users, prefix: "b", fleet: fleet, recorder: recorder, joined: joined)
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

        if scenario.scenario == "history" { try await seed(groups, conversations) }

        let start = Recorder.now()
        recorder.began(at: start, receivers: groups.count * scenario.groupSize, warmup: scenario.warmupSeconds)
        let stop = start + UInt64(scenario.durationSeconds * 1e9)
        let interval = UInt64(1e9 / rate)
        let padding = String(repeating: "x", count: max(0, scenario.contentBytes - 20))
        var schedules: [ObjectIdentifier: (loop: any EventLoop, schedules: [Pacer.Schedule])] = [:]
        for (index, members) in groups.enumerated() {
            let conversation = conversations[index]
            let offset = UInt64.random(in: 0..<interval)
            let act: @Sendable (Int, UInt64) -> Void
            switch scenario.scenario {
            case "typing":
                // Typists take turns, so that each stays under the node's typing throttle.
                act = { number, lag in typing(members[number % members.count], in: conversation, audience: members.count - 1, lag: lag) }
            case "history":
                act = { number, lag in read(by: members[number % members.count], in: conversation, lag: lag) }
            default:
                let senders = scenario.sendersPerConversation
                act = { number, lag in
                    let sender = members[number % senders]
                    let sentAt = Recorder.now()
                    recorder.sent(lag: lag)
                    let send = BenchUser.Send(conversation: conversation, clientID: "k\(index)-\(number)", content: "\(sentAt) \(padding)", sentAt: sentAt)
                    if sender.loop.inEventLoop { sender.send(send) } else { sender.loop.execute { sender.send(send) } }
                }
            }
            // A group's schedule runs on its first member's loop (the sender's); a request by another
            // member hops to that member's loop.
            let loop = members[0].loop
            schedules[ObjectIdentifier(loop), default: (loop, [])].schedules.append(
                Pacer.Schedule(first: start + offset, interval: interval, stop: stop, act: act))
        }
        for (loop, list) in schedules.values {
            let pacer = Pacer(loop: loop, schedules: list)
            loop.execute { pacer.fire() }
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
        var stolen = ProcessStats.stolenSeconds()
        // The host's share of each second, read where the second is closed.
        func tick() -> Recorder.Sample {
            let now = ProcessStats.stolenSeconds()
            defer { stolen = now }
            return recorder.tick(stolenMilliseconds: max(0, now - stolen) * 1000)
        }
        while Recorder.now() < stop {
            try await Task.sleep(for: .seconds(1))
            progress(tick(), nil)
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
                progress(tick(), recorder.tally())
            }
        }
        let deliverySeconds = Double(Recorder.now() - start) / 1e9
        return Outcome(deliverySeconds: deliverySeconds)
    }

    /// `typing`: one signal from `typist` into `conversation`.
    private func typing(_ typist: BenchUser, in conversation: String, audience: Int, lag: UInt64) {
        let sentAt = Recorder.now()
        recorder.typingSent(in: conversation, by: typist.name, audience: audience, lag: lag)
        typist.request("typing", payload: #"{"conversation":"\#(conversation)"}"#).whenComplete { result in
            switch result {
            case .success(let frame) where FrameScanner(frame).string(.type, is: "ack"): recorder.typingAcknowledged(sentAt: sentAt)
            case .success(let frame): recorder.failed(FrameScanner(frame).string(.code).map(String.init) ?? "unreadable")
            case .failure: recorder.failed("closed")
            }
        }
    }

    /// `history`: one page of `pageSize` entries below a random seq of a conversation seeded with
    /// `historyMessages`, checked: ascending, without a gap, ending just below the bound, `has_more`
    /// right.
    private func read(by reader: BenchUser, in conversation: String, lag: UInt64) {
        let total = Int64(scenario.historyMessages)
        let before = Int64.random(in: 2...(total + 1))
        let limit = Int64(scenario.pageSize)
        let sentAt = Recorder.now()
        recorder.readSent(lag: lag)
        let payload = #"{"conversation":"\#(conversation)","before":\#(before),"limit":\#(limit)}"#
        reader.request("message.history", payload: payload).whenComplete { result in
            switch result {
            case .success(let frame):
                let scanner = FrameScanner(frame)
                guard scanner.string(.type, is: "ack") else {
                    return recorder.readFailed(scanner.string(.code).map(String.init) ?? "unreadable")
                }
                let seqs = scanner.allIntegers(.seq)
                let first = max(1, before - limit)
                let correct = seqs == Array(first..<before) && scanner.boolean(.hasMore) == (first > 1)
                recorder.read(sentAt: sentAt, entries: seqs.count, correct: correct)
            case .failure:
                recorder.readFailed("closed")
            }
        }
    }

    /// `history`: each conversation's first member posts `historyMessages` messages into it, 64 in
    /// flight at most per conversation, before the reads start. They count as sends of the run.
    private func seed(_ groups: [[BenchUser]], _ conversations: [String]) async throws {
        let padding = String(repeating: "x", count: max(0, scenario.contentBytes - 20))
        for number in 0..<scenario.historyMessages {
            for (index, members) in groups.enumerated() {
                let sender = members[0]
                sender.loop.execute {
                    let sentAt = Recorder.now()
                    recorder.sent(lag: 0)
                    sender.send(BenchUser.Send(conversation: conversations[index], clientID: "h\(index)-\(number)", content: "\(sentAt) \(padding)", sentAt: sentAt))
                }
            }
            if number % 64 == 63 {
                try await waitFor("the history seeded", timeout: 120) { recorder.tally().acknowledged >= (number + 1) * groups.count }
            }
        }
        try await waitFor("the history seeded", timeout: 120) { recorder.settled() }
        recorder.resetForReads()
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
                guard FrameScanner(frame).string(.type) == "ack", let id = FrameScanner(frame).string(.id) else {
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

/// Open-loop schedules on one event loop, with one timer for all of them: each schedule does
/// `act(number, lag)` for its `number`th event when it is due (`first + number × interval`, so the rate
/// does not drift), until `stop`; `lag` is how late it ran (a slow node makes the harness fall behind,
/// which the report shows, instead of slowing the offered load). The timer wakes at most once per
/// millisecond and runs everything due: a timer per event cost the harness more than the event.
final class Pacer: @unchecked Sendable {  // confined to `loop`
    struct Schedule: Sendable {
        var first: UInt64
        var interval: UInt64
        var stop: UInt64
        var act: @Sendable (Int, UInt64) -> Void
        var number = 0

        var due: UInt64 { first &+ UInt64(number) &* interval }
    }

    static let granularity: UInt64 = 100_000

    private let loop: any EventLoop
    private var schedules: [Schedule]

    init(loop: any EventLoop, schedules: [Schedule]) {
        self.loop = loop
        self.schedules = schedules
    }

    /// Runs what is due and arms the timer for the next; call on `loop`.
    func fire() {
        loop.preconditionInEventLoop()
        let now = Recorder.now()
        var earliest = UInt64.max
        for index in schedules.indices {
            while schedules[index].due <= now, schedules[index].due < schedules[index].stop {
                schedules[index].act(schedules[index].number, now - schedules[index].due)
                schedules[index].number += 1
            }
            if schedules[index].due < schedules[index].stop { earliest = min(earliest, schedules[index].due) }
        }
        guard earliest != .max else { return }
        loop.scheduleTask(deadline: .uptimeNanoseconds(max(earliest, now + Self.granularity))) { self.fire() }
    }
}
