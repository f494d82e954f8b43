import ChatCore
import ChatNode
import ChatWire
import ClientAssets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What the node's browser console serves: the admin page always (its data is behind the admin API's
/// role), the demo chat page and its token minting only where the demo is on.
public struct ConsoleSettings: Sendable {
    /// Serve the demo page at `/demo` and mint tokens for it at `POST /demo/token` (for anyone who
    /// asks, as any user: a development mode, on by default on the embedded engine only).
    public var demo: Bool = false
    /// Lifetime of a demo token.
    public var demoTokenLifetime: Duration = .seconds(86_400)

    public init() {}
}

/// What the console's routes need from the node.
public struct Console: Sendable {
    public var admin: AdminService
    public var settings: ConsoleSettings
    /// Signs a token with the node's key (fails where the node holds only public keys).
    public var mint: @Sendable (ChatClaims) async throws -> String

    public init(admin: AdminService, settings: ConsoleSettings, mint: @escaping @Sendable (ChatClaims) async throws -> String) {
        self.admin = admin
        self.settings = settings
        self.mint = mint
    }
}

/// The admin API (`/v1/admin/...`, JSON, behind a token with the admin role), the console pages and
/// the demo's token route.
struct ConsoleRoutes: Sendable {
    let console: Console
    let responder: JSONResponder
    let clock: any WallClock

    private var admin: AdminService { console.admin }
    private var settings: ConsoleSettings { console.settings }

    func register(on router: Router<BasicRequestContext>) {
        let admin = router.group("v1/admin")
        admin.get("nodes") { request, _ in
            await responder.respond(request) { principal in (200, FrameCodec.body(try await self.admin.nodes(as: principal))) }
        }
        admin.get("jobs") { request, _ in
            await responder.respond(request) { principal in
                let limit = try JSONResponder.integer("limit", in: request)
                return (200, FrameCodec.body(try await self.admin.jobs(limit: limit, as: principal)))
            }
        }
        admin.post("jobs/dead/:id/retry") { request, context in
            await responder.respond(request) { principal in
                (200, FrameCodec.body(try await self.admin.retryDeadLetter(Self.id(context), as: principal)))
            }
        }
        admin.delete("jobs/dead/:id") { request, context in
            await responder.respond(request) { principal in
                (200, FrameCodec.body(try await self.admin.dropDeadLetter(Self.id(context), as: principal)))
            }
        }
        for page in ConsoleAssets.pages(demo: settings.demo) {
            router.get(RouterPath(page.path)) { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = page.contentType
                headers[.cacheControl] = "no-cache"
                // The pages load nothing from elsewhere: scripts, styles and connections stay on this origin.
                headers[.contentSecurityPolicy] =
                    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: page.bytes)))
            }
        }
        if settings.demo {
            // The root leads a newcomer who opened the node in a browser to the demo.
            router.get("/") { _, _ in Response(status: .found, headers: [.location: "/demo"]) }
            router.post("demo/token") { request, _ in
                do {
                    return JSONResponder.json(status: 200, FrameCodec.body(try await demoToken(request)))
                } catch {
                    return responder.failure(error)
                }
            }
        }
    }

    /// A token for the user the demo page signs in as; only `agent:WORKSPACE` roles may be asked for
    /// (never `admin`: an admin token comes from `switchboard token --roles admin`).
    func demoToken(_ request: Request) async throws -> DemoTokenReply {
        let body = try await responder.decode(DemoTokenRequest.self, request)
        guard UserID(body.user) != nil else { throw ChatError.validation("'user' is not a valid user id") }
        let roles = body.roles ?? []
        if let role = roles.first(where: { !$0.hasPrefix("agent:") || WorkspaceID(String($0.dropFirst(6))) == nil }) {
            throw ChatError.forbidden("a demo token may carry only agent:WORKSPACE roles, not '\(role)'")
        }
        let expires = clock.now().advanced(by: settings.demoTokenLifetime)
        let claims = ChatClaims(
            user: body.user, name: body.name, roles: roles.isEmpty ? nil : roles,
            expires: Date(timeIntervalSince1970: Double(expires.milliseconds) / 1000))
        do {
            return DemoTokenReply(token: try await console.mint(claims), expiresAt: expires.milliseconds)
        } catch {
            throw ChatError.unavailable("this node cannot sign tokens (it holds only public keys): \(error)")
        }
    }

    private static func id(_ context: BasicRequestContext) -> String {
        context.parameters.get("id").map { $0.removingPercentEncoding ?? $0 } ?? ""
    }
}
