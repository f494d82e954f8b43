/// The JavaScript client (`clients/js/`), compiled into the node so that every node serves it at a
/// stable, versioned path with nothing beside the binary: `/client/v1/switchboard.js` (an ES module)
/// and `/client/v1/switchboard.d.ts` (its types). `v1` is the protocol's version, as in `/v1/ws`.
public enum ClientAssets {
    /// One file the node serves, as it is in the repository.
    public struct Asset: Sendable {
        public let path: String
        public let contentType: String
        public let bytes: [UInt8]
    }

    public static let all: [Asset] = [
        Asset(path: "/client/v1/switchboard.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.switchboard_js),
        Asset(path: "/client/v1/switchboard.d.ts", contentType: "application/typescript; charset=utf-8", bytes: PackageResources.switchboard_d_ts),
    ]
}
