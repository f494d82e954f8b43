import Crypto
import Foundation

/// Where the harness gets a user's token: minted here with the deployment's HS256 secret, or printed by
/// a command the operator gives (`{user}` in it is replaced), for deployments with other keys.
enum TokenSource: Sendable {
    case secret(String)
    case command(String)

    /// A token for `user`, valid for `lifetime` seconds.
    func token(for user: String, lifetime: Int = 86_400) throws -> String {
        switch self {
        case .secret(let secret): return Self.hs256(user: user, secret: secret, lifetime: lifetime)
        case .command(let template): return try Self.run(template.replacingOccurrences(of: "{user}", with: user))
        }
    }

    /// A JWT signed with HMAC-SHA256: `sub` and `exp`, as the node's `switchboard token` makes them.
    static func hs256(user: String, secret: String, lifetime: Int) -> String {
        let header = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let expiry = Int(Date().timeIntervalSince1970) + lifetime
        let claims = try! JSONSerialization.data(withJSONObject: ["sub": user, "exp": expiry])
        let signingInput = header + "." + base64URL(claims)
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return signingInput + "." + base64URL(Data(signature))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func run(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("the token command failed: \(command)") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
