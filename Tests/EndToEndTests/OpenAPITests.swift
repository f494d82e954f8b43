import ChatClient
import ChatTesting
import ChatWire
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// docs/openapi.json describes exactly the routes the node serves, and each documented operation is
/// answered by a handler of ours (a JSON body), not by the router's "no such route".
@Suite struct OpenAPITests {
    struct Nothing: Encodable, Sendable {}

    static let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.json")

    /// `METHOD /path` for every operation in the document.
    static func documented() throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: document)) as? [String: Any]
        let paths = try #require(json?["paths"] as? [String: [String: Any]])
        return paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } }.sorted()
    }

    @Test func theDocumentNamesEveryRouteAndNoOther() async throws {
        let documented = try Self.documented()
        try await TestNode().run { url, node in
            #expect(node.routes.sorted() == documented)

            // Each documented operation reaches our code: a JSON answer (a 4xx error envelope for these
            // made-up ids), never the router's bare 404.
            let client = try await TestNode.client(url, "alice")
            for operation in documented where operation.split(separator: " ", maxSplits: 1)[1].hasPrefix("/v1/") {
                let parts = operation.split(separator: " ", maxSplits: 1)
                let path = parts[1].replacingOccurrences(of: "{seq}", with: "1")
                    .replacingOccurrences(of: "{id}", with: "c_missing").replacingOccurrences(of: "{user}", with: "bob")
                    .replacingOccurrences(of: "{emoji}", with: "x")
                let (status, body) = try await client.call(String(parts[0]), path, body: parts[0] == "GET" || parts[0] == "DELETE" ? nil : Nothing())
                let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
                #expect(json != nil, "\(operation) answered \(status) without a JSON body")
            }
        }
    }

    /// What no route matches is answered in JSON: 405 with `Allow` when the path has other methods
    /// (as the router would pick them: a literal segment wins over a parameter), else 404.
    @Test func aMethodAPathLacksIs405WithAllow() async throws {
        try await TestNode().run { url in
            let token = try await TestNode.token("alice")
            func call(_ method: String, _ path: String) async throws -> (Int, String?, ErrorBody?) {
                var request = URLRequest(url: URL(string: url + path)!)
                request.httpMethod = method
                request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                let (data, response) = try await URLSession.shared.data(for: request)
                let http = response as? HTTPURLResponse
                return (http?.statusCode ?? 0, http?.value(forHTTPHeaderField: "Allow"), try? JSONDecoder().decode(ErrorResponse.self, from: data).error)
            }
            let (status, allow, error) = try await call("DELETE", "/v1/presence")
            #expect(status == 405 && allow == "GET" && error?.code == "method_not_allowed")
            let direct = try await call("GET", "/v1/conversations/direct")
            #expect(direct.0 == 405 && direct.1 == "POST", "/direct is not /{id}")
            let messages = try await call("PUT", "/v1/conversations/c_1/messages")
            #expect(messages.0 == 405 && messages.1 == "GET, POST")
            let unknown = try await call("GET", "/v1/nothing/here")
            #expect(unknown.0 == 404 && unknown.1 == nil && unknown.2?.code == "not_found")
        }
    }

    /// Path parameters are read percent-decoded; bounds with no seq between them read an empty page.
    @Test func pathParametersArePercentDecodedAndEmptyRangesAreEmpty() async throws {
        try await TestNode().run { url in
            let alice = try await TestNode.client(url, "alice")
            let group = try await alice.rest(
                "POST", "/v1/conversations/group", body: CreateGroupRequest(title: "T", participants: ["böb", "carol"]), as: ConversationReply.self)
            let id = group.conversation.id
            let removed = try await alice.rest("DELETE", "/v1/conversations/\(id)/participants/b%C3%B6b", as: ConversationReply.self)
            #expect(removed.conversation.participants.map(\.user).sorted() == ["alice", "carol"])
            let seq = try await alice.rest("POST", "/v1/conversations/\(id)/messages", body: SendRequest(clientID: "k1", content: "one"), as: SendReply.self).message.seq
            let empty = try await alice.rest("GET", "/v1/conversations/\(id)/messages?before=\(seq)&after=\(seq - 1)", as: HistoryReply.self)
            #expect(empty.messages.isEmpty && !empty.hasMore)
            let one = try await alice.rest("GET", "/v1/conversations/\(id)/messages?before=\(seq + 1)&after=\(seq - 1)", as: HistoryReply.self)
            #expect(one.messages.map(\.content) == ["one"])
        }
    }
}
