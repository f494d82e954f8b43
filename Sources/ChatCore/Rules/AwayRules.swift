/// Who is told about new posts they missed. Pure: the caller reads presence and the store.
public enum AwayRules {
    /// Participants with no live connection (not in `online`) who have not received everything up to the
    /// conversation's last seq, except the author of the newest post (whose own post is the news).
    public static func recipients(of conversation: Conversation, newestPostBy author: UserID?, online: Set<UserID>) -> [NoticeRecipient] {
        conversation.participants
            .filter { !online.contains($0.user) && $0.user != author && $0.deliveredSeq < conversation.lastSeq }
            .map { NoticeRecipient(user: $0.user, deliveredSeq: $0.deliveredSeq) }
    }
}
