import ChatCore

/// The one mapping from error codes to HTTP statuses. Each code has exactly one status.
public enum HTTPStatusTable {
    public static func status(for code: ChatError.Code) -> Int {
        switch code {
        case .validation: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .conflict: 409
        case .rateLimited: 429
        case .unavailable: 503
        default: 500
        }
    }
}

/// WebSocket close codes the node uses. Ranges follow the centrifuge convention of telling clients
/// whether to reconnect: 4000–4499 means "reconnect (with backoff)", 4500–4999 means "do not reconnect
/// without changing something (a new token)". 1009 and 1012 are the RFC 6455 codes.
public enum CloseCode: UInt16, Sendable, CaseIterable {
    /// A single WebSocket frame exceeded the transport cap (`limits.transport_frame_bytes`).
    case messageTooBig = 1009
    /// The client did not answer a ping within `ws.ping.interval.ms` (sent by the WebSocket layer).
    case goingAway = 1001
    /// The node is restarting or draining; reconnect, possibly to another node.
    case serviceRestart = 1012
    /// No `auth` frame arrived within the auth deadline. Reconnect and authenticate promptly.
    case authTimeout = 4001
    /// The connection could not keep up with its outbound queue and was closed; reconnect and resume.
    case slowConsumer = 4002
    /// The user already holds `limits.connections.per.user` connections on this node; close one, then retry.
    case tooManyConnections = 4003
    /// The token was missing, malformed, badly signed or expired. Get a new token before reconnecting.
    case unauthorized = 4501

    /// True when the client should reconnect as it is.
    public var shouldReconnect: Bool { rawValue < 4500 }
}
