import ChatCore
import Synchronization

/// One named check of a conformance suite, run against whatever `Subject` a factory makes. Test targets
/// turn each check into a test case (`@Test(arguments: StoreConformance.checks)`), once per engine.
public struct ConformanceCheck<Factory: Sendable>: Sendable, CustomStringConvertible {
    public let name: String
    public let run: @Sendable (Factory) async throws -> Void

    public init(_ name: String, _ run: @escaping @Sendable (Factory) async throws -> Void) {
        self.name = name
        self.run = run
    }

    public var description: String { name }
}

/// A failed expectation in a conformance check, with where it was made.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let message: String
    public let file: StaticString
    public let line: UInt
    public var description: String { "\(file):\(line): \(message)" }
    public init(message: String, file: StaticString = #filePath, line: UInt = #line) {
        self.message = message
        self.file = file
        self.line = line
    }
}

/// Throws a ``ConformanceFailure`` unless `condition` holds.
public func check(
    _ condition: @autoclosure () throws -> Bool, _ message: @autoclosure () -> String, file: StaticString = #filePath,
    line: UInt = #line
) throws {
    guard try condition() else { throw ConformanceFailure(message: message(), file: file, line: line) }
}

/// Throws unless `a == b`, showing both.
public func checkEqual<T: Equatable>(
    _ a: T, _ b: T, _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line
) throws {
    guard a == b else {
        throw ConformanceFailure(message: "\(message()) expected \(b), got \(a)", file: file, line: line)
    }
}

/// Throws unless `body` throws a ``ChatError`` with `code`.
public func checkThrows<T>(
    _ code: ChatError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> T
) async throws {
    do {
        _ = try await body()
    } catch let error as ChatError {
        try checkEqual(error.code, code, "error code", file: file, line: line)
        return
    }
    throw ConformanceFailure(message: "expected a \(code) error, got none", file: file, line: line)
}

/// Waits until `condition` holds, polling, and fails after `timeout`. Tests wait for conditions, they
/// never sleep for a fixed time and hope.
public func eventually(
    timeout: Duration = .seconds(10), _ what: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    if try await condition() { return }
    throw ConformanceFailure(message: "timed out waiting for \(what())", file: file, line: line)
}

/// A wall clock that moves only when told: the test clock of every time-based check.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    public init(start: Timestamp = Timestamp(milliseconds: 1_700_000_000_000)) { current = Mutex(start) }

    public func now() -> Timestamp { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by duration: Duration) { current.withLock { $0 = $0.advanced(by: duration) } }
}

/// Collects values delivered from any thread, for checks that wait for deliveries.
public final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    public init() {}
    public func record(_ value: Value) { values.withLock { $0.append(value) } }
    public var all: [Value] { values.withLock { $0 } }
    public var count: Int { values.withLock { $0.count } }
    public func removeAll() { values.withLock { $0.removeAll() } }
}

/// A unique suffix for names in one test (key prefixes, channels), so tests sharing a server never meet.
public func uniqueName(_ base: String) -> String {
    "\(base)\(UInt64.random(in: 0..<UInt64.max) % 1_000_000_000)"
}

/// ``check(_:_:file:line:)`` for conditions that await.
public func checkAsync(
    _ condition: @autoclosure () async throws -> Bool, _ message: @autoclosure () -> String, file: StaticString = #filePath,
    line: UInt = #line
) async throws {
    guard try await condition() else { throw ConformanceFailure(message: message(), file: file, line: line) }
}

/// A subject made fresh for one conformance check, and how to release it.
public protocol ConformanceHarness: Sendable {
    var teardown: @Sendable () async -> Void { get }
}

/// Runs `body` on `harness`, then tears the harness down, whether `body` threw or not.
func using<Harness: ConformanceHarness>(_ harness: Harness, _ body: (Harness) async throws -> Void) async throws {
    do {
        try await body(harness)
    } catch {
        await harness.teardown()
        throw error
    }
    await harness.teardown()
}
