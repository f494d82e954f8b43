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
        Asset(path: "/client/v1/switchboard.js", contentType: javaScript, bytes: PackageResources.switchboard_js),
        Asset(path: "/client/v1/switchboard.d.ts", contentType: "application/typescript; charset=utf-8", bytes: PackageResources.switchboard_d_ts),
    ]

    static let javaScript = "text/javascript; charset=utf-8"
}

/// The browser console (`clients/console/`): the admin page (`/admin`) and the demo chat page
/// (`/demo`), each an HTML page with one script and the shared style sheet, built on the client above
/// and loading nothing from anywhere but the node.
public enum ConsoleAssets {
    static let html = "text/html; charset=utf-8"

    /// The admin page and what it loads.
    public static let admin: [ClientAssets.Asset] = [
        .init(path: "/admin", contentType: html, bytes: PackageResources.admin_html),
        .init(path: "/admin/admin.js", contentType: ClientAssets.javaScript, bytes: PackageResources.admin_js),
        .init(path: "/console/console.css", contentType: "text/css; charset=utf-8", bytes: PackageResources.console_css),
    ]

    /// The demo chat page and its script.
    public static let demo: [ClientAssets.Asset] = [
        .init(path: "/demo", contentType: html, bytes: PackageResources.chat_html),
        .init(path: "/demo/chat.js", contentType: ClientAssets.javaScript, bytes: PackageResources.chat_js),
    ]

    /// The pages a node serves: the admin page always, the demo where it is on.
    public static func pages(demo: Bool) -> [ClientAssets.Asset] { admin + (demo ? self.demo : []) }
}
