/// An authenticated caller: who they are, as their verified token says.
public struct Principal: Sendable, Hashable {
    public var user: UserID
    public var name: String?
    public var roles: [String]
    /// When the token stops being valid; nil when it has no expiry.
    public var expiresAt: Timestamp?

    public init(user: UserID, name: String? = nil, roles: [String] = [], expiresAt: Timestamp? = nil) {
        self.user = user
        self.name = name
        self.roles = roles
        self.expiresAt = expiresAt
    }
}

/// Verifies bearer tokens. Implemented at the edge (JWT); the node only needs the answer.
public protocol Authenticator: Sendable {
    /// The principal the token proves, or an `unauthorized` ``ChatError``.
    func authenticate(_ token: String) async throws -> Principal
}
