import ChatCore
import ChatWire
import Foundation
import Logging
import ServiceLifecycle

/// Keeps this node's entry in the ``NodeDirectory`` current: announces its report when it starts and
/// every `interval` after, each to live three intervals (so a node that dies drops out of the admin
/// API within three intervals), and withdraws it when a graceful shutdown begins.
public final class NodeReporter: Service, Sendable {
    /// Builds the node's report as it is now.
    public typealias Report = @Sendable () -> NodeReportBody

    private let directory: any NodeDirectory
    private let node: NodeID
    private let interval: Duration
    private let report: Report
    private let logger: Logger

    public init(directory: any NodeDirectory, node: NodeID, interval: Duration, report: @escaping Report, logger: Logger) {
        self.directory = directory
        self.node = node
        self.interval = interval
        self.report = report
        self.logger = logger
    }

    /// How long an announced report lives.
    public var lifetime: Duration { interval * 3 }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.announce()
                try await Task.sleep(for: self.interval)
            }
        }
        do {
            try await directory.withdraw(node)
        } catch {
            logger.warning("could not withdraw the node's admin report", metadata: ["error": "\(error)"])
        }
    }

    /// Announces the node's report now (also before the admin API lists nodes, so this node's own
    /// entry is never stale there).
    public func announce() async {
        do {
            try await directory.announce(NodeEntry(node: node, report: FrameCodec.body(report())), ttl: lifetime)
        } catch {
            logger.warning("could not announce the node's admin report", metadata: ["error": "\(error)"])
        }
    }
}
