import Synchronization

/// Whether the node should receive traffic: false while starting, once draining begins, and whenever
/// a dependency check fails (in cluster mode: the pub/sub link is down or does not carry the node's
/// own canary).
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)
    private let checks: [@Sendable () -> Bool]

    /// - Parameter checks: each must hold for the node to be ready.
    public init(checks: [@Sendable () -> Bool] = []) { self.checks = checks }

    public var isReady: Bool { ready.load(ordering: .acquiring) && checks.allSatisfy { $0() } }
    public func set(_ value: Bool) { ready.store(value, ordering: .releasing) }
}
