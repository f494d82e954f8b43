import ChatCore
import Testing

@Suite struct RulesTests {
    let ann = UserID("ann")!, bob = UserID("bob")!, cat = UserID("cat")!
    let t = Timestamp(milliseconds: 0)

    func group(_ roles: [(UserID, Role)]) -> Conversation {
        Conversation(
            id: ConversationID("c_1")!, kind: .group, title: "G", workspace: nil, createdBy: ann, createdAt: t, lastSeq: 0,
            lastActivityAt: t, participants: roles.enumerated().map { Participant(user: $1.0, role: $1.1, joinedAt: Timestamp(milliseconds: Int64($0))) })
    }

    @Test func identifiersRejectSpacesControlsAndLength() {
        #expect(UserID("") == nil)
        #expect(UserID("a b") == nil)
        #expect(UserID("tab\t") == nil)
        #expect(UserID(String(repeating: "x", count: 129)) == nil)
        #expect(UserID("ünïcødé@example.com") != nil)
        // Lengths count characters (code points), as JSON Schema's maxLength does, not UTF-8 bytes.
        #expect(UserID(String(repeating: "🧪", count: 128)) != nil)
        #expect(UserID(String(repeating: "🧪", count: 129)) == nil)
        #expect(ClientMessageID(String(repeating: "é", count: 64)) != nil && ClientMessageID(String(repeating: "é", count: 65)) == nil)
        #expect(UserID("del\u{7f}") == nil && UserID("nul\u{0}") == nil)
    }

    @Test func groupsNeedATitleAndAnotherPerson() throws {
        #expect(throws: ChatError.validation("a group needs a title")) {
            try ConversationRules.checkGroup(creator: ann, title: "  ", others: [bob], limits: Limits())
        }
        #expect(throws: ChatError.validation("a group needs at least two participants")) {
            try ConversationRules.checkGroup(creator: ann, title: "T", others: [ann], limits: Limits())
        }
        let checked = try ConversationRules.checkGroup(creator: ann, title: "  Team \n", others: [bob, bob, cat], limits: Limits())
        #expect(checked.title == "Team" && checked.others == [bob, cat])
        #expect(throws: ChatError.validation("a direct conversation needs another user")) {
            try ConversationRules.checkDirect(creator: ann, other: ann)
        }
    }

    @Test func onlyAdminsManageAndTheLastAdminIsReplaced() throws {
        let conversation = group([(ann, .admin), (bob, .member), (cat, .moderator)])
        #expect(throws: ChatError.forbidden("only an admin can change participants")) { try ConversationRules.checkManage(conversation, by: bob) }
        try ConversationRules.checkManage(conversation, by: ann)
        #expect(try ConversationRules.removal(of: ann, from: conversation) == bob, "longest-standing member becomes admin")
        #expect(try ConversationRules.removal(of: bob, from: conversation) == nil)
        #expect(throws: ChatError.conflict("a group must keep at least one admin")) {
            try ConversationRules.checkRoleChange(of: ann, to: .member, in: conversation, by: ann)
        }
    }

    @Test func nonParticipantsSeeNotFound() {
        #expect(throws: ChatError.notFound("no such conversation")) { try ConversationRules.visible(group([(ann, .admin)]), to: bob) }
        #expect(throws: ChatError.notFound("no such conversation")) { try ConversationRules.visible(nil, to: bob) }
    }

    @Test func sendsRespectLimitsAndKinds() throws {
        var limits = Limits()
        limits.maxContentBytes = 4
        #expect(throws: ChatError.validation("content is larger than 4 bytes")) {
            try ConversationRules.checkSend(kind: .text, content: "héllo", metadata: nil, metadataBytes: 0, limits: limits)
        }
        #expect(throws: ChatError.validation("clients cannot send system messages")) {
            try ConversationRules.checkSend(kind: .system, content: "x", metadata: nil, metadataBytes: 0, limits: limits)
        }
        try ConversationRules.checkSend(kind: .image, content: "", metadata: nil, metadataBytes: 10, limits: limits)
    }

    @Test func historyBoundsAreSeqsAndAnEmptyRangeIsNoError() throws {
        #expect(throws: ChatError.validation("before must be at least 1")) { try ConversationRules.checkHistory(HistoryQuery(before: 0, limit: 5)) }
        #expect(throws: ChatError.validation("after must not be negative")) { try ConversationRules.checkHistory(HistoryQuery(after: -1, limit: 5)) }
        #expect(try ConversationRules.checkHistory(HistoryQuery(before: 5, after: 9, limit: 5)), "nothing lies between: an empty page")
        #expect(try ConversationRules.checkHistory(HistoryQuery(before: 5, after: 4, limit: 5)))
        #expect(try !ConversationRules.checkHistory(HistoryQuery(before: 5, after: 3, limit: 5)))
        #expect(try !ConversationRules.checkHistory(HistoryQuery(before: .max, after: 0, limit: 5)))
    }

    /// U+0000 is refused in every stored text field, before anything is stored, on every store.
    @Test func textNoStoreCanKeepIsRefused() throws {
        let limits = Limits()
        #expect(throws: ChatError.validation("'content' contains U+0000, which cannot be stored")) {
            try ConversationRules.checkSend(kind: .text, content: "a\u{0}b", metadata: nil, metadataBytes: 0, limits: limits)
        }
        let nested: JSONValue = .object(["ok": .array([.string("fine"), .object(["k": .string("\u{0}lead")])])])
        #expect(throws: ChatError.validation("'metadata' contains U+0000, which cannot be stored")) {
            try ConversationRules.checkSend(kind: .text, content: "x", metadata: nested, metadataBytes: 10, limits: limits)
        }
        #expect(throws: ChatError.validation("'metadata' contains U+0000, which cannot be stored")) {
            try StoredText.check(.object(["a\u{0}": .null]))
        }
        #expect(throws: ChatError.validation("'title' contains U+0000, which cannot be stored")) {
            try ConversationRules.checkGroup(creator: UserID("a")!, title: "T\u{0}", others: [UserID("b")!], limits: limits)
        }
        #expect(throws: ChatError.validation("'subject' contains U+0000, which cannot be stored")) {
            try SupportRules.checkOpen(subject: "s\u{0}", kind: .text, content: "x", metadata: nil, metadataBytes: 0, limits: limits)
        }
        // Other control characters and any other Unicode are kept exactly.
        try ConversationRules.checkSend(
            kind: .text, content: "tab\there \u{1}\u{7f} 🧪", metadata: .object(["é": .string("\u{1f}")]), metadataBytes: 20, limits: limits)
    }

    @Test func retryPolicyGrowsAndStops() {
        let policy = RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(5), maxAttempts: 4)
        #expect(policy.delay(afterAttempt: 0, unit: 1) == .seconds(1))
        #expect(policy.delay(afterAttempt: 2, unit: 1) == .seconds(4))
        #expect(policy.delay(afterAttempt: 2, unit: 0.5) == .seconds(2))
        #expect(policy.delay(afterAttempt: 3, unit: 1) == nil)
        #expect(RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(5), maxAttempts: 10).delay(afterAttempt: 6, unit: 1) == .seconds(5))
    }

    @Test func channelNamesAreHashTaggedAndParse() {
        let channel = Channel.conversation(ConversationID("c_9")!)
        #expect(channel.name(prefix: "sb") == "sb:c:{c_9}")
        #expect(Channel(name: "sb:c:{c_9}", prefix: "sb") == channel)
        #expect(Channel(name: "sb:u:{ann}", prefix: "sb") == .user(ann))
        #expect(Channel(name: "other:c:{c_9}", prefix: "sb") == nil)
        #expect(Channel.presence.name(prefix: "sb") == "sb:p:{all}" && Channel(name: "sb:p:{all}", prefix: "sb") == .presence)
        let ids = ["a", "c_9", "zoë", "用户", "\u{1F3FB}x"]
        for id in ids {
            for made in [UserID(id).map(Channel.user), WorkspaceID(id).map(Channel.desk), ConversationID(id).map(Channel.conversation)].compactMap({ $0 }) {
                for prefix in ["sb", "a.b:c", "ü"] { #expect(Channel(name: made.name(prefix: prefix), prefix: prefix) == made, "\(made) under \(prefix)") }
            }
        }
        for bad in ["sb:c:{}", "sb:c:c_9}", "sb:c:{c_9", "sb:x:{a}", "sb:c{c_9}", "sb2:c:{c_9}", "sb", "s", "", "sb:c:{", "sb::{a}", "sb:cc:{a}", "sb:p:{a}"] {
            #expect(Channel(name: bad, prefix: "sb") == nil, "\(bad)")
        }
    }

    @Test func cursorsRoundTrip() {
        let cursor = ConversationCursor(lastActivityAt: Timestamp(milliseconds: 42), id: ConversationID("c_a.b")!)
        #expect(ConversationCursor(token: cursor.token) == cursor)
        #expect(ConversationCursor(token: "garbage") == nil)
        // A combining mark right after the dot (an emoji skin tone) must not hide the dot.
        let modified = ConversationCursor(lastActivityAt: Timestamp(milliseconds: -7), id: ConversationID("\u{1F3FB}x")!)
        #expect(ConversationCursor(token: modified.token) == modified)
    }

    @Test func everyErrorCodeHasAStableSpelling() {
        #expect(ChatError.Code.all.map(\.rawValue) == [
            "validation", "unauthorized", "forbidden", "not_found", "conflict", "rate_limited", "unavailable", "internal",
        ])
    }

    @Test func agentsAreNamedByTheirTokensRolesAndRequeueWaitsForTheDelay() throws {
        let agent = Principal(user: ann, roles: ["admin", "agent:acme", "agent:globex", "agent:"])
        #expect(SupportRules.agentWorkspaces(of: agent) == [WorkspaceID("acme")!, WorkspaceID("globex")!])
        #expect(throws: ChatError.forbidden("only the workspace's support agents can do this")) {
            try SupportRules.checkAgent(Principal(user: bob), of: WorkspaceID("acme")!)
        }
        let left = Timestamp(milliseconds: 10_000)
        let after = Duration.seconds(60)
        #expect(!SupportRules.shouldRequeue(agentOnline: true, lastSeen: nil, now: left.advanced(by: .seconds(120)), after: after))
        #expect(!SupportRules.shouldRequeue(agentOnline: false, lastSeen: left, now: left.advanced(by: .seconds(59)), after: after),
                "gone again more recently: that disconnect's own check decides")
        #expect(SupportRules.shouldRequeue(agentOnline: false, lastSeen: left, now: left.advanced(by: .seconds(60)), after: after))
        #expect(try SupportRules.checkOpen(subject: "  Late  ", kind: .text, content: "x", metadata: nil, metadataBytes: 0, limits: Limits()) == "Late")
        #expect(throws: ChatError.self) { try SupportRules.checkOpen(subject: nil, kind: .text, content: "", metadata: nil, metadataBytes: 0, limits: Limits()) }
    }
}

@Suite struct AwayRulesTests {
    @Test func awayParticipantsBehindTheLastSeqOtherThanTheAuthor() {
        let t = Timestamp(milliseconds: 0)
        func member(_ name: String, delivered: Seq) -> Participant {
            Participant(user: UserID(name)!, role: .member, joinedAt: t, deliveredSeq: delivered, readSeq: 0)
        }
        let conversation = Conversation(
            id: ConversationID("c_1")!, kind: .group, title: "G", workspace: nil, createdBy: UserID("ann")!, createdAt: t, lastSeq: 5,
            lastActivityAt: t,
            participants: [member("ann", delivered: 0), member("bob", delivered: 2), member("cat", delivered: 5), member("dan", delivered: 1)])
        let recipients = AwayRules.recipients(of: conversation, newestPostBy: UserID("ann")!, online: [UserID("dan")!])
        #expect(recipients == [NoticeRecipient(user: UserID("bob")!, deliveredSeq: 2)], "ann wrote it, cat has it, dan is online")
    }
}
