import ChatCore
import ChatNode
import ChatWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The one way an authenticated JSON route answers: the bearer token checked, the body decoded within
/// `limits.body.bytes`, the result or the error written as JSON, errors counted by code and given the
/// status ``HTTPStatusTable`` names.
struct JSONResponder: Sendable {
    let authenticator: any Authenticator
    let limits: Limits
    let metrics: NodeMetrics

    /// Authenticates and runs `body`, which returns the status and the JSON bytes.
    func respond(_ request: Request, _ body: (Principal) async throws -> (Int, [UInt8])) async -> Response {
        do {
            guard let token = ChatHTTPServer.bearer(request.headers[.authorization]) else {
                throw ChatError.unauthorized("missing 'Authorization: Bearer <token>' header")
            }
            let (status, bytes) = try await body(try await authenticator.authenticate(token))
            return Self.json(status: status, bytes)
        } catch {
            return failure(error)
        }
    }

    /// The error's JSON body with its status, counted.
    func failure(_ error: any Error) -> Response {
        let chat = ChatError.from(error)
        metrics.error(chat.code)
        return Self.json(status: HTTPStatusTable.status(for: chat.code), FrameCodec.body(ErrorResponse(error: ErrorBody(chat))))
    }

    /// The request's body as `T`, or a `validation` error that says what is wrong.
    func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limits.maxRequestBodyBytes)
        } catch {
            throw ChatError.validation("the body is larger than \(limits.maxRequestBodyBytes) bytes")
        }
        let data = Data(buffer.readableBytesView)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw ChatError.validation(FrameCodec.describe(error, in: data))
        }
    }

    /// The query parameter `name` as an integer, nil when absent; `validation` when it is not one.
    static func integer(_ name: String, in request: Request) throws(ChatError) -> Int? {
        guard let value = request.uri.queryParameters.get(name) else { return nil }
        guard let number = Int(value) else { throw .validation("'\(name)' must be an integer") }
        return number
    }

    static func json(status: Int, _ bytes: [UInt8]) -> Response {
        Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
