import ChatWire
import HTTPTypes
import Hummingbird
import NIOCore

/// Answers a request the router has no route for, with the JSON error envelope every other answer
/// uses: 405 with an `Allow` header naming the methods the path has, when it has any (RFC 9110
/// §15.5.6), else 404 `not_found`. Added after every route, so it runs only when none matched.
struct RouteFallback<Context: RequestContext>: RouterMiddleware {
    /// The routes' paths as segments (`{name}` for a parameter) with their methods.
    private let routes: [(segments: [Substring], method: HTTPRequest.Method)]

    init(routes: [Router<Context>.RouteDescription]) {
        self.routes = routes.map { route in
            (route.path.description.split(separator: "/").map { $0.hasPrefix(":") || $0.hasPrefix("{") ? "{}" : $0 }, route.method)
        }
    }

    /// The methods the router serves at `path`, in a stable order.
    func methods(at path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        let matching = routes.filter { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { pattern, segment in pattern == "{}" || pattern == segment }
        }
        // The router prefers a literal segment to a parameter, segment by segment (`/conversations/direct`
        // is never `/conversations/{id}`): only the routes it would pick count.
        func literals(_ route: (segments: [Substring], method: HTTPRequest.Method)) -> [Bool] { route.segments.map { $0 != "{}" } }
        guard let best = matching.map(literals).max(by: { $0.lexicographicallyPrecedes($1) { !$0 && $1 } }) else { return [] }
        return matching.filter { literals($0) == best }.map(\.method).sorted { $0.rawValue < $1.rawValue }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = methods(at: request.uri.path)
            guard !allowed.isEmpty else {
                return Self.error(.notFound, code: "not_found", "no route \(request.uri.path)", headers: [:])
            }
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            return Self.error(
                .methodNotAllowed, code: "method_not_allowed", "\(request.method) is not allowed here; allowed: \(list)", headers: [.allow: list])
        }
    }

    private static func error(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = FrameCodec.body(ErrorResponse(error: ErrorBody(code: code, message: message)))
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
