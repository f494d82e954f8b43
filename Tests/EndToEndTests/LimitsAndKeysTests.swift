import ChatClient
import ChatCore
import ChatServer
import ChatTesting
import ChatWire
import Foundation
import JWTKit
import NodeBootstrap
import Testing

/// Each configurable limit crossed with its documented answer, and tokens verified from a JWKS file.
@Suite struct LimitsAndKeysTests {
    @Test func eachLimitAnswersAsDocumented() async throws {
        let node = TestNode {
            $0.limits.maxFrameBytes = 1024
            $0.limits.maxTransportFrameBytes = 4096
            $0.limits.maxRequestBodyBytes = 2048
            $0.limits.maxMetadataBytes = 64
            $0.limits.maxTitleLength = 10
            $0.limits.maxGroupParticipants = 3
        }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                await #expect(throws: ChatError.validation("title is longer than 10 characters")) {
                    _ = try await socket.createGroup(title: "Eleven char", participants: ["bob"])
                }
                await #expect(throws: ChatError.validation("a group holds at most 3 participants")) {
                    _ = try await socket.createGroup(title: "Big", participants: ["bob", "carol", "dave"])
                }
                let group = try await socket.createGroup(title: "Small", participants: ["bob", "carol"])
                await #expect(throws: ChatError.validation("a group holds at most 3 participants")) {
                    _ = try await socket.addParticipants(["dave"], to: group.conversation.id)
                }
                await #expect(throws: ChatError.validation("metadata is larger than 64 bytes")) {
                    _ = try await socket.send("x", to: group.conversation.id, metadata: .string(String(repeating: "m", count: 80)))
                }
                let (status, body) = try await alice.call(
                    "POST", "/v1/conversations/\(group.conversation.id)/messages",
                    body: SendRequest(clientID: "big", content: String(repeating: "b", count: 3000)))
                #expect(status == 400)
                #expect(String(decoding: body, as: UTF8.self).contains("the body is larger than 2048 bytes"))
            }
            // One frame over the transport cap is a protocol violation: the socket is closed with 1009.
            try await alice.withConnection { socket in
                try await socket.sendRaw(String(repeating: "z", count: 5000))
                try await eventually("closed with 1009") { socket.closeCode == Int(CloseCode.messageTooBig.rawValue) }
            }
        }
    }

    @Test func tokensSignedByAJWKSKeyAreAccepted() async throws {
        let key = ES256PrivateKey()
        let parameters = try #require(key.publicKey.parameters)
        let jwks = #"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k1","x":"\#(parameters.x)","y":"\#(parameters.y)"}]}"#
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("jwks-\(UUID().uuidString).json").path
        try jwks.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let node = TestNode {
            $0.authSecret = nil
            $0.jwksFile = file
        }
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: key, kid: "k1")
        let token = try await signer.sign(ChatClaims(user: "alice", expires: Date().addingTimeInterval(600)), kid: "k1")
        try await node.run { url in
            let alice = ChatClient(baseURL: url, token: token)
            try await alice.withConnection { socket in
                let direct = try await socket.createDirect(with: "bob")
                #expect(direct.created == true)
            }
            // An HS256 token is not accepted by a node that only trusts the JWKS.
            let hmac = ChatClient(baseURL: url, token: try await TestNode.token("alice"))
            let (status, _) = try await hmac.call("GET", "/v1/conversations")
            #expect(status == 401)
        }
    }

    @Test func settingsThatCannotWorkAreRefusedNamingTheirKey() {
        var configuration = NodeConfiguration()
        configuration.limits.slowConsumerCloseGrace = .milliseconds(-1)
        #expect(throws: ChatError.validation("configuration 'limits.outbound.close.ms' must not be negative")) { try configuration.validate() }
        configuration = NodeConfiguration()
        configuration.supportRequeueAfter = .milliseconds(-1)
        #expect(throws: ChatError.validation("configuration 'support.requeue.ms' must not be negative")) { try configuration.validate() }
        configuration = NodeConfiguration()
        configuration.limits.outboundQueueFrames = 0
        #expect(throws: ChatError.validation("configuration 'limits.outbound.frames' must be positive")) { try configuration.validate() }
        for bad in ["", "node 1", "node{1}", String(repeating: "n", count: 65)] {
            configuration = NodeConfiguration()
            configuration.nodeID = bad
            #expect(throws: ChatError.validation("configuration 'node.id' must be 1 to 64 letters, digits, '-', '_' or '.'")) { try configuration.validate() }
        }
        configuration.nodeID = "node-1.eu_west"
        #expect(throws: Never.self) { try configuration.validate() }
        configuration = NodeConfiguration()
        configuration.redisPubSubLinks = 0
        #expect(throws: ChatError.validation("configuration 'redis.pubsub.links' must be positive")) { try configuration.validate() }
        configuration = NodeConfiguration()
        configuration.databasePoolMinimum = 21
        #expect(throws: ChatError.validation("configuration 'database.pool.min' must be 0...database.pool.max (20)")) { try configuration.validate() }
        configuration.databasePoolMinimum = 20
        #expect(throws: Never.self) { try configuration.validate() }
        configuration = NodeConfiguration()
        configuration.notifyWebhookURL = "https://hooks.example.com/switchboard"
        #expect(throws: ChatError.validation("configuration 'notify.webhook.secret' must be set, at least 16 bytes, with 'notify.webhook.url'")) {
            try configuration.validate()
        }
        configuration.notifyWebhookSecret = "sixteen-bytes-ok"
        #expect(throws: Never.self) { try configuration.validate() }
        configuration.notifyWebhookURL = "ftp://hooks.example.com"
        #expect(throws: ChatError.validation("configuration 'notify.webhook.url' must be an http:// or https:// URL")) { try configuration.validate() }
    }
}
