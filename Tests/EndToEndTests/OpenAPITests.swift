import ChatClient
import ChatTesting
import Foundation
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
            for operation in documented where operation.contains("/v1/") {
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
}
