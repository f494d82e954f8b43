import ChatCore

/// The ``SupportStore`` contract as checks, part of ``StoreConformance/checks``.
extension StoreConformance {
    static let supportChecks: [ConformanceCheck<StoreFactory>] = [
        .init("a support request opens with its conversation, once per customer and workspace", supportOpen),
        .init("the queue holds waiting requests, oldest first, per workspace", supportQueue),
        .init("exactly one of many concurrent claims wins; the others learn who", supportConcurrentClaims),
        .init("an unanswered claim is requeued, an answered one is kept", supportRequeue),
        .init("closing the conversation closes the request and frees the customer", supportClose),
    ]

    static let desk = WorkspaceID("acme")!

    static func opening(_ customer: String, _ text: String, workspace: WorkspaceID = desk, at time: Timestamp = t0) -> SupportOpening {
        let ids = RandomIDGenerator()
        let conversation = ids.conversationID()
        return SupportOpening(
            id: ids.supportRequestID(), conversation: conversation, workspace: workspace, customer: user(customer), subject: "Help",
            description: draft(conversation, user(customer), "d-\(customer)-\(time.milliseconds)", text, at: time))
    }

    static func supportOpen(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let first = try await store.openSupportRequest(opening("cat", "my order is late"))
            try check(first.created, "created")
            try checkEqual(first.request.state, .waiting)
            try checkEqual(first.conversation.kind, .support)
            try checkEqual(first.conversation.title, "Help")
            try checkEqual(first.conversation.workspace, desk)
            try checkEqual(first.conversation.participants.map(\.user), [user("cat")])
            try checkEqual(first.conversation.lastSeq, 1, "the description is the first entry")
            try checkEqual(try await store.message(1, in: first.conversation.id)?.content, "my order is late")
            let again = try await store.openSupportRequest(opening("cat", "hello?"))
            try check(!again.created, "one open request per customer and workspace")
            try checkEqual(again.request.id, first.request.id)
            try checkEqual(try await store.conversation(first.conversation.id)?.lastSeq, 1, "the repeat stored nothing")
            let elsewhere = try await store.openSupportRequest(opening("cat", "other desk", workspace: WorkspaceID("globex")!))
            try check(elsewhere.created, "another workspace is another desk")
            try checkEqual(try await store.supportRequest(first.request.id)?.conversation, first.conversation.id)
            try checkEqual(try await store.supportRequest(for: first.conversation.id)?.id, first.request.id)
            try await checkAsync(try await store.supportRequest(SupportRequestID("s_missing")!) == nil, "missing reads as nil")
        }
    }

    static func supportQueue(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let late = try await store.openSupportRequest(opening("dan", "second", at: at(2000))).request
            let early = try await store.openSupportRequest(opening("eve", "first", at: at(1000))).request
            _ = try await store.openSupportRequest(opening("fay", "elsewhere", workspace: WorkspaceID("globex")!))
            try checkEqual(try await store.waitingSupportRequests(in: desk, limit: 10).map(\.id), [early.id, late.id])
            try checkEqual(try await store.waitingSupportRequests(in: desk, limit: 1).map(\.id), [early.id])
            _ = try await store.claimSupportRequest(early.id, by: user("agent"), at: at(3000))
            try checkEqual(try await store.waitingSupportRequests(in: desk, limit: 10).map(\.id), [late.id], "a claimed request leaves the queue")
        }
    }

    static func supportConcurrentClaims(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let request = try await store.openSupportRequest(opening("gus", "anyone?")).request
            let agents = (1...20).map { user("agent\($0)") }
            let outcomes = try await withThrowingTaskGroup(of: (UserID, SupportClaimOutcome).self) { group in
                for agent in agents {
                    group.addTask { (agent, try await store.claimSupportRequest(request.id, by: agent, at: at(10))) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let winners = outcomes.compactMap { agent, outcome -> UserID? in if case .won = outcome { agent } else { nil } }
            try checkEqual(winners.count, 1, "exactly one claim wins")
            let winner = winners[0]
            for (_, outcome) in outcomes {
                switch outcome {
                case .won(let won, let conversation), .held(let won, let conversation):
                    try checkEqual(won.state.claim?.agent, winner)
                    try checkEqual(conversation.participant(winner)?.role, .admin, "the winner joined as admin")
                case .taken(let taken):
                    try checkEqual(taken.state.claim?.agent, winner, "a loser learns who won")
                }
            }
            try checkEqual(try await store.conversation(request.conversation)?.participants.map(\.user).sorted(), [user("gus"), winner].sorted())
            guard case .held = try await store.claimSupportRequest(request.id, by: winner, at: at(20)) else {
                throw ConformanceFailure(message: "the holder's repeated claim finds it held, and changes nothing")
            }
            try await checkThrows(.notFound) { try await store.claimSupportRequest(SupportRequestID("s_missing")!, by: winner, at: at(30)) }
        }
    }

    static func supportRequeue(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let agent = user("agent")
            let quiet = try await store.openSupportRequest(opening("hal", "unanswered")).request
            let answered = try await store.openSupportRequest(opening("ida", "answered")).request
            _ = try await store.claimSupportRequest(quiet.id, by: agent, at: at(10))
            _ = try await store.claimSupportRequest(answered.id, by: agent, at: at(10))
            _ = try await store.append(draft(answered.conversation, agent, "reply", "on it", at: at(20)))
            try checkEqual(try await store.supportRequest(answered.id)?.state.claim?.answeredAt, at(20), "the agent's first post answers")
            let requeued = try await store.requeueSupportRequests(claimedBy: agent)
            try checkEqual(requeued.map(\.request.id), [quiet.id])
            try checkEqual(requeued.first?.request.state, .waiting)
            try checkEqual(requeued.first?.conversation.participants.map(\.user), [user("hal")], "the agent left the conversation")
            try checkEqual(try await store.waitingSupportRequests(in: desk, limit: 10).map(\.id), [quiet.id])
            try checkEqual(try await store.supportRequest(answered.id)?.state.claim?.agent, agent, "the answered one is kept")
            guard case .won(let reclaimed, _) = try await store.claimSupportRequest(quiet.id, by: user("other"), at: at(30)) else {
                throw ConformanceFailure(message: "a requeued request can be claimed again")
            }
            try checkEqual(reclaimed.state.claim?.answeredAt, nil)
        }
    }

    static func supportClose(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let request = try await store.openSupportRequest(opening("jon", "broken")).request
            _ = try await store.claimSupportRequest(request.id, by: user("agent"), at: at(10))
            let closed = try await store.close(request.conversation, at: at(50))
            try checkEqual(closed.closedAt, at(50))
            let state = try await store.supportRequest(request.id)?.state
            try checkEqual(state, .closed(at: at(50), last: SupportClaim(agent: user("agent"), claimedAt: at(10))))
            try await checkThrows(.conflict) { try await store.claimSupportRequest(request.id, by: user("late"), at: at(60)) }
            try await checkThrows(.conflict) { try await store.append(draft(request.conversation, user("jon"), "after", "still there?")) }
            let next = try await store.openSupportRequest(opening("jon", "new problem", at: at(70)))
            try check(next.created, "closing freed the customer to open another request")
        }
    }
}
