import ChatCore
import Foundation
import JWTKit

/// The claims Switchboard reads from a token: `sub` (the user id), optional `name` and `roles`, and
/// `exp`, which is required; ``JWTAuthenticator`` enforces it against the node's clock (so tests can
/// drive expiry from an injected clock, and one clock decides both acceptance and the expiry timer).
public struct ChatClaims: JWTPayload, Equatable {
    public var sub: SubjectClaim
    public var exp: ExpirationClaim
    public var name: String?
    public var roles: [String]?

    public init(user: String, name: String? = nil, roles: [String]? = nil, expires: Date) {
        sub = SubjectClaim(value: user)
        exp = ExpirationClaim(value: expires)
        self.name = name
        self.roles = roles
    }

    /// Checks nothing beyond the signature: `exp` is checked by ``JWTAuthenticator`` against its clock.
    public func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// Where token keys come from.
public enum TokenKeys: Sendable {
    /// HS256 with a shared secret: verifies and mints.
    case hmac(secret: String)
    /// RS256/ES256 (and any algorithm JWKS names) from a JWKS document: verifies; mints only when the
    /// document holds a private key.
    case jwks(json: String)
}

/// Verifies bearer tokens with JWTKit and turns their claims into a ``Principal``.
///
/// Guarantees: a token that is malformed, signed with another key or algorithm, expired, or whose
/// `sub` is not a valid user id is refused with `unauthorized`; nothing else is.
public struct JWTAuthenticator: Authenticator {
    private let keys: JWTKeyCollection
    private let clock: any WallClock

    public init(keys: TokenKeys, clock: any WallClock = SystemWallClock()) async throws {
        self.clock = clock
        let collection = JWTKeyCollection()
        switch keys {
        case .hmac(let secret):
            guard secret.utf8.count >= 32 else {
                throw ChatError.validation("the HS256 secret must be at least 32 bytes (it is \(secret.utf8.count))")
            }
            await collection.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        case .jwks(let json):
            do {
                try await collection.add(jwksJSON: json)
            } catch {
                throw ChatError.validation("the JWKS document could not be read: \(error)")
            }
        }
        self.keys = collection
    }

    public func authenticate(_ token: String) async throws -> Principal {
        let claims: ChatClaims
        do {
            claims = try await keys.verify(token, as: ChatClaims.self)
        } catch {
            throw ChatError.unauthorized("the token is not valid")
        }
        let expiresAt = Timestamp(milliseconds: Int64(claims.exp.value.timeIntervalSince1970 * 1000))
        guard clock.now() < expiresAt else { throw ChatError.unauthorized("the token has expired") }
        guard let user = UserID(claims.sub.value) else {
            throw ChatError.unauthorized("the token's subject is not a valid user id")
        }
        return Principal(
            user: user, name: claims.name, roles: claims.roles ?? [],
            expiresAt: expiresAt)
    }

    /// Signs claims with the configured key (`switchboard token`).
    public func mint(_ claims: ChatClaims) async throws -> String {
        do {
            return try await keys.sign(claims)
        } catch {
            throw ChatError.validation("cannot sign with the configured keys (a JWKS of public keys only verifies): \(error)")
        }
    }
}
