import AsyncHTTPClient
import ChatCore
import ChatWire
import Crypto
import NIOCore

/// Delivers ``AwayNotice``s as HTTP POSTs of JSON (``AwayNoticeBody``) to one URL, signed with
/// HMAC-SHA256 so the receiver can tell them from forgeries (``WebhookSignature``).
///
/// Guarantees: one attempt per call, bounded by `timeout`; any answer other than 2xx, and any
/// transport failure, throws `unavailable` (the job that called retries with backoff). The
/// `X-Switchboard-Delivery` header is the notice's id, the same on every attempt.
public struct WebhookNotifier: AwayNotifier {
    private let url: String
    private let secret: [UInt8]
    private let timeout: Duration
    private let clock: any WallClock
    private let client: HTTPClient

    public init(url: String, secret: String, timeout: Duration, clock: any WallClock, client: HTTPClient = .shared) {
        self.url = url
        self.secret = Array(secret.utf8)
        self.timeout = timeout
        self.clock = clock
        self.client = client
    }

    public func deliver(_ notice: AwayNotice) async throws {
        let body = FrameCodec.body(AwayNoticeBody(notice))
        let timestamp = clock.now().milliseconds
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Switchboard-Event", value: "away_notice")
        request.headers.add(name: "X-Switchboard-Delivery", value: notice.id)
        request.headers.add(name: "X-Switchboard-Timestamp", value: String(timestamp))
        request.headers.add(name: "X-Switchboard-Signature", value: WebhookSignature.header(body: body, timestamp: timestamp, secret: secret))
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: UInt
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeout.wholeMilliseconds))
            status = response.status.code
            for try await _ in response.body {}
        } catch {
            throw ChatError.unavailable("the notification webhook could not be reached: \(error)")
        }
        guard (200..<300).contains(status) else { throw ChatError.unavailable("the notification webhook answered \(status)") }
    }
}

/// The webhook signature: `v1=` and the hex HMAC-SHA256, keyed with the shared secret, of the
/// timestamp header's value, a dot, and the exact body bytes. Receivers recompute it, compare in
/// constant time, and refuse old timestamps to stop replays.
public enum WebhookSignature {
    public static func header(body: [UInt8], timestamp: Int64, secret: [UInt8]) -> String {
        var message = Array(String(timestamp).utf8)
        message.append(UInt8(ascii: "."))
        message += body
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret))
        return "v1=" + code.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
