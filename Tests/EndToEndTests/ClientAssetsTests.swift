import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// The node serves the JavaScript client exactly as it is in `clients/js/`, to pages on any origin.
@Suite struct ClientAssetsTests {
    static let clients = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("clients/js")

    @Test func theJavaScriptClientIsServedAsItIsInTheRepository() async throws {
        try await TestNode().run { url in
            for (file, type) in [("switchboard.js", "text/javascript"), ("switchboard.d.ts", "application/typescript")] {
                let (data, response) = try await URLSession.shared.data(from: URL(string: "\(url)/client/v1/\(file)")!)
                let http = try #require(response as? HTTPURLResponse)
                #expect(http.statusCode == 200)
                #expect(http.value(forHTTPHeaderField: "Content-Type")?.hasPrefix(type) == true)
                #expect(http.value(forHTTPHeaderField: "Access-Control-Allow-Origin") == "*", "a module a page on another origin may import")
                #expect(data == (try Data(contentsOf: Self.clients.appendingPathComponent(file))), "\(file) as in clients/js")
            }
        }
    }
}
