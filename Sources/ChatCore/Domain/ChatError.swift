/// The one error type the domain speaks. It carries a stable ``Code`` that the edges map once to an
/// HTTP status, a WebSocket error frame or a close code, and a human-readable message.
///
/// Guarantees: the set of codes is closed and each code's `rawValue` never changes, because clients
/// switch on it.
public struct ChatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable, documented error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable, CaseIterable {
            case validation, unauthorized, forbidden, notFound = "not_found", conflict
            case rateLimited = "rate_limited", unavailable, `internal`
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The request is malformed or breaks a rule about its content (missing field, too large, bad id).
        public static let validation = Code(.validation)
        /// No valid identity: missing, malformed, badly signed or expired token.
        public static let unauthorized = Code(.unauthorized)
        /// The caller is known and may see the resource but not do this to it.
        public static let forbidden = Code(.forbidden)
        /// No such resource, or one the caller may not know about.
        public static let notFound = Code(.notFound)
        /// The request conflicts with the current state (for example, a closed conversation).
        public static let conflict = Code(.conflict)
        /// Too many requests; retry later.
        public static let rateLimited = Code(.rateLimited)
        /// A dependency is down or the node is draining; the same request may succeed later.
        public static let unavailable = Code(.unavailable)
        /// A bug or an unexpected failure; details are in the node's log, never in the reply.
        public static let `internal` = Code(.internal)

        /// Every code, in documentation order.
        public static var all: [Code] { Base.allCases.map(Code.init) }

        /// The wire spelling: `validation`, `not_found`, `rate_limited`, …
        public var rawValue: String { base.rawValue }
        public init?(rawValue: String) {
            guard let base = Base(rawValue: rawValue) else { return nil }
            self.base = base
        }
        public var description: String { rawValue }

        /// True when repeating the same request later may succeed.
        public var isRetryable: Bool { self == .unavailable || self == .rateLimited }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func validation(_ message: String) -> ChatError { .init(.validation, message) }
    public static func unauthorized(_ message: String) -> ChatError { .init(.unauthorized, message) }
    public static func forbidden(_ message: String) -> ChatError { .init(.forbidden, message) }
    public static func notFound(_ message: String) -> ChatError { .init(.notFound, message) }
    public static func conflict(_ message: String) -> ChatError { .init(.conflict, message) }
    public static func rateLimited(_ message: String) -> ChatError { .init(.rateLimited, message) }
    public static func unavailable(_ message: String) -> ChatError { .init(.unavailable, message) }
    public static func `internal`(_ message: String) -> ChatError { .init(.internal, message) }

    /// The one place where a foreign error becomes a ``ChatError``: a ``ChatError`` passes through,
    /// anything else is `internal` (its details belong in the log, not on the wire).
    public static func from(_ error: any Error) -> ChatError {
        if let chat = error as? ChatError { return chat }
        return .internal("internal error")
    }
}
