import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

/// `/metrics` on a real node: Prometheus text with the documented series moving with traffic.
@Suite struct MetricsTests {
    @Test func metricsCountConnectionsFramesErrorsDeliveriesBrokerAndStore() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await alice.withConnection { aliceSocket in
                try await bob.withConnection { bobSocket in
                    let id = try await aliceSocket.createDirect(with: "bob").conversation.id
                    for index in 1...3 { _ = try await aliceSocket.send("hi \(index)", to: id) }
                    try await waitForMessages(bobSocket, ["hi 1", "hi 2", "hi 3"])
                    try await aliceSocket.sendRaw("{not json")
                    try await eventually("the bad frame was answered") { aliceSocket.events.contains { $0.type == "error" } }
                    _ = try await bobSocket.conversations()
                    _ = try await bobSocket.conversations()

                    let (status, body) = try await alice.call("GET", "/metrics")
                    #expect(status == 200)
                    let text = String(decoding: body, as: UTF8.self)
                    func value(_ series: String) -> Double? {
                        text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last!) }
                    }
                    #expect(value("switchboard_connections") == 2)
                    #expect(value("switchboard_ready") == 1, "the node is ready")
                    #expect(value("switchboard_broker_up") == 1, "the in-process broker is always up")
                    #expect(value("switchboard_sessions") == 2)
                    #expect(value(#"switchboard_frames_in_total{type="message.send"}"#) == 3)
                    #expect(value(#"switchboard_frames_in_total{type="invalid"}"#) == 1)
                    #expect(value(#"switchboard_errors_total{code="validation"}"#) == 1)
                    #expect((value(#"switchboard_frames_out_total{type="event_message"}"#) ?? 0) >= 6, "each post to both users")
                    #expect(value(#"switchboard_broker_published_total{kind="message"}"#) == 3)
                    #expect(value(#"switchboard_broker_received_total{kind="message"}"#) == 3)
                    #expect(value("switchboard_delivery_seconds_count") == 3)
                    #expect(value(#"switchboard_store_seconds_count{op="append"}"#) == 3)
                    #expect(value("switchboard_store_append_batch_size_sum") == 3, "every send went through a group commit")
                    #expect((value("switchboard_store_append_batch_size_count") ?? 0) >= 1)
                    #expect(text.contains(#"switchboard_store_append_batch_size_bucket{le="64.0"}"#), "the batch buckets, not the default ones")
                    #expect(text.contains("# TYPE switchboard_delivery_seconds histogram"))
                    // The kinds of job the node runs are exported before any job ran, at zero.
                    for result in ["done", "retried", "buried"] {
                        #expect(value(#"switchboard_jobs_total{kind="support.requeue",result="\#(result)"}"#) == 0)
                    }
                    #expect(value(#"switchboard_cache_total{key="list",result="miss"}"#) == 1, "bob's first list")
                    #expect(value(#"switchboard_cache_total{key="list",result="hit"}"#) == 1, "bob's second list")
                }
            }
        }
    }
}
