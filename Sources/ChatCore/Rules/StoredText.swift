/// The rule for text that a store keeps: every string a client sends to be stored (message content,
/// group titles, support subjects, reactions, metadata keys and values) is kept exactly as sent, or
/// refused with `validation` before anything is stored. The one character refused is U+0000:
/// PostgreSQL's `text` and `jsonb` cannot hold it and SQLite's C interface ends a string at it, so no
/// store could give it back. The same rule on every store, so a client sees the same answer anywhere.
public enum StoredText {
    /// Refuses `text` if no store could keep it exactly; `field` names it in the error.
    public static func check(_ text: String, field: String) throws(ChatError) {
        if text.utf8.contains(0) { throw .validation("'\(field)' contains U+0000, which cannot be stored") }
    }

    /// Refuses metadata whose keys or string values no store could keep exactly.
    public static func check(_ metadata: JSONValue?, field: String = "metadata") throws(ChatError) {
        guard let metadata else { return }
        switch metadata {
        case .null, .bool, .number: return
        case .string(let text): try check(text, field: field)
        case .array(let values): for value in values { try check(value, field: field) }
        case .object(let members):
            for (key, value) in members {
                try check(key, field: field)
                try check(value, field: field)
            }
        }
    }
}
