import ChatCore
import ChatNode
import ChatWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The REST API: the same operations as the WebSocket protocol, through the same ``ChatService``.
/// Every route needs `Authorization: Bearer <token>`; every error is `{"error":{"code","message"}}`
/// with the status ``HTTPStatusTable`` gives its code.
struct RESTRoutes: Sendable {
    let service: ChatService
    let authenticator: any Authenticator
    let limits: Limits
    let metrics: NodeMetrics

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("v1/conversations")
        v1.post("direct") { request, context in
            await respond(request) {
                try await Validate.createDirect(decode(CreateDirectRequest.self, request))
            }
        }
        v1.post("group") { request, context in
            await respond(request) {
                try await Validate.createGroup(decode(CreateGroupRequest.self, request))
            }
        }
        v1.get { request, context in
            await respond(request) {
                let query = request.uri.queryParameters
                let limit = try JSONResponder.integer("limit", in: request)
                let body = ListConversationsRequest(
                    cursor: query.get("cursor"), limit: limit, workspace: query.get("workspace"))
                return try Validate.list(body)
            }
        }
        v1.get(":id") { request, context in
            await respond(request) {
                try .getConversation(Validate.conversation(Self.path("id", context)))
            }
        }
        v1.post(":id/participants") { request, context in
            await respond(request) {
                let body = try await decode(AddParticipantsRequest.self, request)
                return try Validate.addParticipants(body, conversation: Self.path("id", context))
            }
        }
        v1.delete(":id/participants/:user") { request, context in
            await respond(request) {
                try Command.removeParticipant(
                    Validate.conversation(Self.path("id", context)), user: Validate.user(Self.path("user", context)))
            }
        }
        v1.put(":id/participants/:user/role") { request, context in
            await respond(request) {
                let body = try await decode(SetRoleRequest.self, request)
                return try Validate.setRole(body, conversation: Self.path("id", context), user: Self.path("user", context))
            }
        }
        v1.post(":id/leave") { request, context in
            await respond(request) {
                try .leave(Validate.conversation(Self.path("id", context)))
            }
        }
        v1.post(":id/messages") { request, context in
            await respond(request) {
                let body = try await decode(SendRequest.self, request)
                return try Validate.send(body, conversation: Self.path("id", context))
            }
        }
        v1.get(":id/messages") { request, context in
            await respond(request) {
                let query = request.uri.queryParameters
                func number(_ name: String) throws(ChatError) -> Int64? {
                    guard let value = query.get(name) else { return nil }
                    guard let parsed = Int64(value) else { throw .validation("'\(name)' must be an integer") }
                    return parsed
                }
                let body = HistoryRequest(before: try number("before"), after: try number("after"), limit: try number("limit").map { Int($0) })
                return try Validate.history(body, conversation: Self.path("id", context))
            }
        }
        v1.patch(":id/messages/:seq") { request, context in
            await respond(request) {
                let body = try await decode(EditRequest.self, request)
                return try Validate.edit(body, conversation: Self.path("id", context), seq: Self.seq(context))
            }
        }
        v1.delete(":id/messages/:seq") { request, context in
            await respond(request) {
                let body = DeleteRequest(clientID: request.uri.queryParameters.get("client_id"))
                return try Validate.delete(body, conversation: Self.path("id", context), seq: Self.seq(context))
            }
        }
        v1.post(":id/messages/:seq/reactions") { request, context in
            await respond(request) {
                let body = try await decode(ReactionRequest.self, request)
                return try Validate.reaction(body, add: true, conversation: Self.path("id", context), seq: Self.seq(context))
            }
        }
        v1.delete(":id/messages/:seq/reactions/:emoji") { request, context in
            await respond(request) {
                let emoji = Self.path("emoji", context) ?? ""
                let body = ReactionRequest(emoji: emoji, clientID: request.uri.queryParameters.get("client_id"))
                return try Validate.reaction(body, add: false, conversation: Self.path("id", context), seq: Self.seq(context))
            }
        }
        v1.post(":id/receipts") { request, context in
            await respond(request) {
                try Validate.receipt(await decode(ReceiptRequest.self, request), conversation: Self.path("id", context))
            }
        }
        v1.post(":id/typing") { request, context in
            await respond(request) {
                try .typing(Validate.conversation(Self.path("id", context)))
            }
        }
        v1.post(":id/archive") { request, context in
            await respond(request) {
                try .archive(Validate.conversation(Self.path("id", context)), archived: true)
            }
        }
        v1.delete(":id/archive") { request, context in
            await respond(request) {
                try .archive(Validate.conversation(Self.path("id", context)), archived: false)
            }
        }
        v1.post(":id/close") { request, context in
            await respond(request) {
                try .close(Validate.conversation(Self.path("id", context)))
            }
        }
        router.get("v1/presence") { request, context in
            await respond(request) {
                // Split among Unicode scalars: a combining mark after a comma fuses with it into one Character.
                let users = request.uri.queryParameters.get("users")?.unicodeScalars
                    .split(separator: ",", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) } ?? []
                return try Validate.presence(PresenceRequest(users: users))
            }
        }
        let support = router.group("v1/support")
        support.post("requests") { request, context in
            await respond(request) {
                try await Validate.supportOpen(decode(SupportOpenRequest.self, request))
            }
        }
        support.get("queue") { request, context in
            await respond(request) {
                let query = request.uri.queryParameters
                let limit = try JSONResponder.integer("limit", in: request)
                return try Validate.supportQueue(workspace: query.get("workspace"), limit: limit)
            }
        }
        support.post("requests/:id/claim") { request, context in
            await respond(request) {
                try .claimSupport(Validate.supportRequest(Self.path("id", context)))
            }
        }
    }

    /// A path parameter as the client meant it: percent-decoded (the router hands it over as sent).
    private static func path(_ name: String, _ context: BasicRequestContext) -> String? {
        context.parameters.get(name).map { $0.removingPercentEncoding ?? $0 }
    }

    private static func seq(_ context: BasicRequestContext) throws(ChatError) -> Int64 {
        guard let value = path("seq", context), let number = Int64(value) else {
            throw .validation("the path's seq must be an integer")
        }
        return number
    }

    /// Authenticates, builds the command with `command`, executes it, and writes its reply or its error.
    private func respond(_ request: Request, _ command: () async throws -> Command) async -> Response {
        await responder.respond(request) { principal in
            let reply = try await service.execute(try await command(), as: principal)
            return (reply.httpStatus, reply.body)
        }
    }

    private var responder: JSONResponder { JSONResponder(authenticator: authenticator, limits: limits, metrics: metrics) }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        try await responder.decode(type, request)
    }
}
