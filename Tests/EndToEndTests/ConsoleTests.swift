import ChatClient
import ChatCore
import ChatWire
import Configuration
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NodeBootstrap
import Testing

/// The console's server side: the demo's pages and tokens (on by default on the embedded engine, off
/// when configured so), the admin pages, and the admin API behind the admin role.
@Suite struct ConsoleTests {
    static let console = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("clients/console")

    /// A session that shows redirects instead of following them.
    static let session = URLSession(configuration: .ephemeral, delegate: NoRedirects(), delegateQueue: nil)

    /// One HTTP call; the status and the body.
    static func call(_ method: String, _ url: String, token: String? = nil, json: String? = nil) async throws -> (Int, Data, HTTPURLResponse) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(json.utf8)
        }
        let (data, response) = try await session.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, data, http)
    }

    static func errorCode(_ data: Data) throws -> String {
        try JSONDecoder().decode(ErrorResponse.self, from: data).error.code
    }

    @Test func theDemoMintsTokensForAnyUserButNeverAdmin() async throws {
        try await TestNode().run { url in
            let (status, data, _) = try await Self.call("POST", "\(url)/demo/token", json: #"{"user":"ann","roles":["agent:demo"]}"#)
            #expect(status == 200)
            let token = try JSONDecoder().decode(DemoTokenReply.self, from: data).token
            let (listed, _, _) = try await Self.call("GET", "\(url)/v1/conversations", token: token)
            #expect(listed == 200, "the demo token is a token of the node")
            let (queue, _, _) = try await Self.call("GET", "\(url)/v1/support/queue?workspace=demo", token: token)
            #expect(queue == 200, "it carries the agent role asked for")

            let (admin, adminBody, _) = try await Self.call("POST", "\(url)/demo/token", json: #"{"user":"ann","roles":["admin"]}"#)
            #expect(admin == 403)
            #expect(try Self.errorCode(adminBody) == "forbidden")
            let (bad, badBody, _) = try await Self.call("POST", "\(url)/demo/token", json: #"{"user":"a b"}"#)
            #expect(bad == 400)
            #expect(try Self.errorCode(badBody) == "validation")
            let (broken, brokenBody, _) = try await Self.call("POST", "\(url)/demo/token", json: #"{"name":"x"}"#)
            #expect(broken == 400)
            #expect(try Self.errorCode(brokenBody) == "validation")
        }
    }

    @Test func thePagesAreServedAsTheyAreInTheRepository() async throws {
        try await TestNode().run { url in
            for (path, file, type) in [
                ("/demo", "chat.html", "text/html"), ("/demo/chat.js", "chat.js", "text/javascript"), ("/admin", "admin.html", "text/html"),
                ("/admin/admin.js", "admin.js", "text/javascript"), ("/console/console.css", "console.css", "text/css"),
            ] {
                let (status, data, http) = try await Self.call("GET", url + path)
                #expect(status == 200, "\(path)")
                #expect(http.value(forHTTPHeaderField: "Content-Type")?.hasPrefix(type) == true, "\(path)")
                #expect(http.value(forHTTPHeaderField: "Content-Security-Policy")?.contains("default-src 'self'") == true, "\(path)")
                #expect(data == (try Data(contentsOf: Self.console.appendingPathComponent(file))), "\(file) as in clients/console")
            }
            let (root, _, http) = try await Self.call("GET", url + "/")
            #expect(root == 302)
            #expect(http.value(forHTTPHeaderField: "Location") == "/demo")
        }
    }

    @Test func withTheDemoOffThereIsNoDemo() async throws {
        try await TestNode { $0.demo = false }.run { url in
            for (method, path) in [("POST", "/demo/token"), ("GET", "/demo"), ("GET", "/demo/chat.js"), ("GET", "/")] {
                let (status, _, _) = try await Self.call(method, url + path, json: method == "POST" ? #"{"user":"ann"}"# : nil)
                #expect(status == 404, "\(method) \(path)")
            }
            let (admin, _, _) = try await Self.call("GET", url + "/admin")
            #expect(admin == 200, "the admin page is always there (its data needs the admin role)")
        }
    }

    @Test func theDemoFollowsTheEngineUnlessConfigured() throws {
        func configuration(_ flags: [String]) throws -> NodeConfiguration {
            try NodeConfiguration(reader: ConfigReader(providers: [CommandLineArgumentsProvider(arguments: ["switchboard"] + flags)]))
        }
        #expect(try configuration([]).consoleSettings.demo == true, "on with the embedded engine")
        let cluster = ["--database-url", "postgres://u@127.0.0.1:5432/d", "--redis-url", "redis://127.0.0.1:6379"]
        #expect(try configuration(cluster).consoleSettings.demo == false, "off in cluster mode")
        #expect(try configuration(cluster + ["--demo-enabled", "true"]).consoleSettings.demo == true)
        #expect(try configuration(["--demo-enabled", "FALSE"]).consoleSettings.demo == false)
        #expect(throws: ChatError.validation("configuration 'demo.enabled' must be true or false, not 'maybe'")) {
            try configuration(["--demo-enabled", "maybe"])
        }
        #expect(throws: ChatError.validation("configuration 'admin.report.interval.ms' must be positive")) {
            try configuration(["--admin-report-interval-ms", "0"])
        }
    }

    @Test func theAdminAPIShowsTheNodeItsSessionsAndErrorsToAdminsOnly() async throws {
        try await TestNode { $0.nodeID = "console-node" }.run { url in
            let admin = try await TestNode.token("ops", roles: ["admin"])
            let (forbidden, body, _) = try await Self.call("GET", "\(url)/v1/admin/nodes", token: try await TestNode.token("ann"))
            #expect(forbidden == 403)
            #expect(try Self.errorCode(body) == "forbidden")
            let (unauthorized, _, _) = try await Self.call("GET", "\(url)/v1/admin/jobs")
            #expect(unauthorized == 401)

            let annToken = try await TestNode.token("ann")
            let (missing, _, _) = try await Self.call("GET", "\(url)/v1/conversations/c_missing", token: annToken)
            #expect(missing == 404)
            try await TestNode.client(url, "ann").withConnection { _ in
                try await Self.checkNodes(url, admin: admin)
            }
        }
    }

    static func checkNodes(_ url: String, admin: String) async throws {
        do {
            let (status, data, _) = try await Self.call("GET", "\(url)/v1/admin/nodes", token: admin)
            #expect(status == 200)
            let nodes = try JSONDecoder().decode(NodesReply.self, from: data).nodes
            let node = try #require(nodes.first)
            #expect(nodes.count == 1)
            #expect(node.node == "console-node")
            #expect(node.engine == "embedded")
            #expect(node.ready)
            #expect(node.connections == 1 && node.sessions == 1 && node.users == 1)
            #expect(node.sessionsListed.map(\.user) == ["ann"])
            #expect(node.errors["not_found"] == 1, "errors by code")
            #expect(node.errors["forbidden"] == 1 && node.errors["unauthorized"] == 1, "the admin API's own refusals count too")
            #expect(node.framesIn >= 1)
        }
    }

    @Test func theAdminAPIShowsTheJobQueue() async throws {
        try await TestNode().run { url in
            let admin = try await TestNode.token("ops", roles: ["admin"])

            let (jobs, jobsBody, _) = try await Self.call("GET", "\(url)/v1/admin/jobs?limit=5", token: admin)
            #expect(jobs == 200)
            let queue = try JSONDecoder().decode(JobsReply.self, from: jobsBody)
            #expect(queue.deadLetterCount == 0 && queue.deadLetters.isEmpty)
            let (badLimit, _, _) = try await Self.call("GET", "\(url)/v1/admin/jobs?limit=0", token: admin)
            #expect(badLimit == 400)
            for (method, path) in [("POST", "/v1/admin/jobs/dead/nope/retry"), ("DELETE", "/v1/admin/jobs/dead/nope")] {
                let (missing, missingBody, _) = try await Self.call(method, url + path, token: admin)
                #expect(missing == 404, "\(method) \(path)")
                #expect(try Self.errorCode(missingBody) == "not_found")
            }
        }
    }
}

/// Lets a test see a redirect instead of following it.
final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
