import Synchronization

/// Whether the node should receive traffic: false while starting and once draining begins.
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)
    public init() {}
    public var isReady: Bool { ready.load(ordering: .acquiring) }
    public func set(_ value: Bool) { ready.store(value, ordering: .releasing) }
}
