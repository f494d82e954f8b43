import ChatCore
import ChatWire
import Foundation
import Logging
import Synchronization

/// A chat session that outlives its connections. ``run()`` connects to one of `nodes`; when the
/// connection ends (its node was killed or drained, the network failed) it connects again by itself,
/// to the next node, after a jittered exponential backoff (at once when the node's drain advisory
/// asked it to move), resuming from the last seq it holds of each conversation. A drain's `reconnect`
/// advisory is followed: the session waits the delay it names, then moves to another node.
///
/// Guarantees: the application sees each log entry once (``entries`` keeps one per (conversation,
/// seq), whatever the wire repeats); ``send(_:to:clientID:)`` returns only once the node stored the
/// post, sending it again with the same client id on each new connection until one acknowledges it,
/// so a send is stored once however many connections fail under it. Every entry is acknowledged as
/// delivered (`receipt.mark`) once it arrived. ``statuses`` tells the application when it is
/// connecting, connected, caught up, or waiting to reconnect.
public final class ChatSession: Sendable {
    /// Where the session stands.
    public enum Status: Sendable, Equatable {
        case connecting(node: String)
        case connected(node: String)
        /// Everything stored in the conversations the node listed has arrived.
        case caughtUp(node: String)
        /// The connection ended; the next attempt comes after the delay.
        case reconnecting(after: Duration, attempt: Int)
        case stopped
    }

    private struct EntryKey: Hashable {
        var conversation: String
        var seq: Int64
    }

    private struct State {
        var connection: ChatConnection?
        var nodeIndex = 0
        var entries: [MessageBody] = []
        var seen: Set<EntryKey> = []
        var positions: [String: Int64] = [:]
        var statuses: [Status] = []
        /// Events of the current connection already looked at.
        var processed = 0
    }

    public let nodes: [String]
    public let token: String
    /// The reconnect backoff (its attempt limit is ignored: the session never gives up).
    public let backoff: RetryPolicy
    private let state = Mutex(State())
    private let logger: Logger

    public init(
        nodes: [String], token: String, backoff: RetryPolicy = RetryPolicy(base: .milliseconds(100), factor: 2, cap: .seconds(5)),
        logger: Logger = Logger(label: "switchboard.session")
    ) {
        precondition(!nodes.isEmpty, "a session needs at least one node")
        self.nodes = nodes
        self.token = token
        self.backoff = backoff
        self.logger = logger
    }

    /// Every log entry received, once each, in arrival order.
    public var entries: [MessageBody] { state.withLock { $0.entries } }

    /// The highest seq held per conversation (what the next connection resumes from).
    public var positions: [String: Int64] { state.withLock { $0.positions } }

    /// Every status the session went through, in order.
    public var statuses: [Status] { state.withLock { $0.statuses } }

    /// True while a connection is up.
    public var isConnected: Bool { state.withLock { $0.connection.map { !$0.isClosed } ?? false } }

    /// Connects, and connects again whenever the connection ends, until the task is cancelled.
    public func run() async {
        var attempt = 0
        while !Task.isCancelled {
            let node = state.withLock { nodes[$0.nodeIndex % nodes.count] }
            record(.connecting(node: node))
            let resume = positions
            var advised = false
            do {
                advised = try await ChatClient(baseURL: node, token: token, logger: logger).withConnection(
                    resume: resume.isEmpty ? nil : resume
                ) { connection in
                    state.withLock {
                        $0.connection = connection
                        $0.processed = 0
                    }
                    record(.connected(node: node))
                    return try await follow(connection, on: node)
                }
            } catch {
                logger.debug("connection ended", metadata: ["node": "\(node)", "error": "\(error)"])
            }
            let connected = state.withLock { state -> Bool in
                defer {
                    state.connection = nil
                    state.nodeIndex += 1
                }
                return state.connection != nil
            }
            // A connection that came up resets the backoff: the next failure starts from the base delay.
            if connected { attempt = 0 }
            if Task.isCancelled { break }
            if advised { continue }
            let delay = backoff.delay(afterAttempt: min(attempt, 30), unit: Double.random(in: 0..<1)) ?? backoff.cap
            attempt += 1
            record(.reconnecting(after: delay, attempt: attempt))
            do { try await Task.sleep(for: delay) } catch { break }
        }
        record(.stopped)
    }

    /// Reads the connection's events until it ends; true when the node advised a reconnect (the
    /// session waited its delay and leaves).
    private func follow(_ connection: ChatConnection, on node: String) async throws -> Bool {
        // What "caught up" means here: each listed conversation's newest seq has arrived (or was
        // already delivered to this user before the session began).
        let targets: [String: Int64]? = try? await connection.conversations().conversations.reduce(into: [:]) { targets, summary in
            let delivered = summary.conversation.participants.first { $0.user == connection.user }?.deliveredSeq ?? 0
            if summary.conversation.lastSeq > delivered { targets[summary.conversation.id] = summary.conversation.lastSeq }
        }
        var caughtUp = false
        var acknowledged: [String: Int64] = [:]
        var changes = connection.changes.makeAsyncIterator()
        while !connection.isClosed {
            if let delay = absorb(connection) {
                try await Task.sleep(for: delay)
                return true
            }
            // Deliveries are acknowledged as they arrive (`receipt.mark`), so the node stops sending
            // them again (its `redeliver` job) and other participants see them delivered.
            for (conversation, seq) in positions where seq > acknowledged[conversation, default: 0] {
                guard (try? await connection.mark(conversation, delivered: seq)) != nil else { break }
                acknowledged[conversation] = seq
            }
            if !caughtUp, let targets {
                let positions = self.positions
                if targets.allSatisfy({ positions[$0.key, default: 0] >= $0.value }) {
                    caughtUp = true
                    record(.caughtUp(node: node))
                }
            }
            // Until the next event or the end of the connection.
            guard await changes.next() != nil else { break }
            try Task.checkCancellation()
        }
        _ = absorb(connection)  // what arrived before the end
        return false
    }

    /// Takes the connection's new events: entries not seen before, and the drain advisory's delay.
    private func absorb(_ connection: ChatConnection) -> Duration? {
        let events = connection.events
        return state.withLock { state -> Duration? in
            var advisory: Duration?
            for frame in events.dropFirst(state.processed) {
                if frame.type == EventType.reconnect.rawValue, let event = try? frame.payload(ReconnectEvent.self) {
                    advisory = .milliseconds(max(0, event.delayMs))
                } else if let entry = try? frame.payload(MessageEvent.self).message, ChatConnection.isEntry(frame.type) {
                    Self.take(entry, into: &state)
                }
            }
            state.processed = max(state.processed, events.count)
            return advisory
        }
    }

    private static func take(_ entry: MessageBody, into state: inout State) {
        guard state.seen.insert(EntryKey(conversation: entry.conversation, seq: entry.seq)).inserted else { return }
        state.entries.append(entry)
        state.positions[entry.conversation] = max(state.positions[entry.conversation] ?? 0, entry.seq)
    }

    private func record(_ status: Status) {
        state.withLock { $0.statuses.append(status) }
    }

    /// Sends a post and returns it as stored. While no connection is up, or when the connection fails
    /// under the request, it waits for the next one and sends again with the same client id: the
    /// node stores a client id once. A refusal by the node (other than `unavailable`) is thrown.
    public func send(_ content: String, to conversation: String, clientID: String = UUID().uuidString) async throws -> MessageBody {
        while true {
            try Task.checkCancellation()
            if let connection = state.withLock({ $0.connection }), !connection.isClosed {
                do {
                    return try await connection.send(content, to: conversation, clientID: clientID).message
                } catch let error as ChatError where error.code != .unavailable {
                    throw error
                } catch {
                    logger.debug("send interrupted; sending again on the next connection", metadata: ["client_id": "\(clientID)"])
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
