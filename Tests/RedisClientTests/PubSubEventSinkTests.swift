import Foundation
import NIOCore
@testable import RedisClient
import Synchronization
import Testing

/// ``PubSubEventSink`` with a handler: every event goes to it as it happens, none into the stream, and
/// the handler's call costs the same on the thousandth event as on the first.
@Suite struct PubSubEventSinkTests {
    @Test func aHandlerGetsEveryEventDirectlyAtTheSameCallDepth() async {
        let sink = PubSubEventSink(bufferSize: 4)
        let seen = Mutex<(channels: [String], resumed: Int, depths: [Int])>(([], 0, []))
        sink.deliver { event in
            let depth = Thread.callStackSymbols.count
            seen.withLock { seen in
                seen.depths.append(depth)
                switch event {
                case .message(let message): seen.channels.append(message.channel)
                case .resumed: seen.resumed += 1
                }
            }
        }
        for index in 0..<1_000 { sink.deliver(RedisPushMessage(channel: "c\(index)", payload: ByteBuffer())) }
        sink.markLost()
        sink.deliver(RedisPushMessage(channel: "after", payload: ByteBuffer()))
        sink.finish()
        let result = seen.withLock { $0 }
        #expect(result.channels.count == 1_001 && result.channels.first == "c0" && result.channels.last == "after", "all of them, beyond the buffer's 4, in order")
        #expect(result.resumed == 1, "a gap is still marked before what follows it")
        #expect(Set(result.depths).count == 1, "no frame added per call: \(Set(result.depths).sorted())")
        var events = sink.events.makeAsyncIterator()
        #expect(await events.next() == nil, "nothing went into the stream")
    }
}
