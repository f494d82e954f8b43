/// The embedded store's schema, applied in order at open; `PRAGMA user_version` records how many ran.
enum SQLiteSchema {
    static let migrations: [[String]] = [
        [
            """
            CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                title TEXT,
                workspace TEXT,
                created_by TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                last_seq INTEGER NOT NULL DEFAULT 0,
                last_activity_at INTEGER NOT NULL,
                -- "workspace|low|high" for direct conversations: one per pair of users per workspace.
                direct_key TEXT UNIQUE
            )
            """,
            """
            CREATE TABLE participants (
                conversation_id TEXT NOT NULL REFERENCES conversations(id),
                user_id TEXT NOT NULL,
                role TEXT NOT NULL,
                joined_at INTEGER NOT NULL,
                PRIMARY KEY (conversation_id, user_id)
            ) WITHOUT ROWID
            """,
            // A user's conversations: the list and the subscribe-on-connect paths start here.
            "CREATE INDEX participants_by_user ON participants (user_id, conversation_id)",
            // History by (conversation, seq) is the primary key; the unique key makes sends idempotent.
            """
            CREATE TABLE messages (
                conversation_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                id TEXT NOT NULL UNIQUE,
                sender TEXT NOT NULL,
                client_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                content TEXT NOT NULL,
                metadata TEXT,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (conversation_id, seq),
                UNIQUE (conversation_id, sender, client_id)
            ) WITHOUT ROWID
            """,
        ],
        // Live chat: receipts, archive and close, edits, deletions and reactions as log entries.
        [
            "ALTER TABLE conversations ADD COLUMN closed_at INTEGER",
            // The newest post (not edit or reaction): the list's preview, read without a scan.
            "ALTER TABLE conversations ADD COLUMN last_post_seq INTEGER NOT NULL DEFAULT 0",
            "UPDATE conversations SET last_post_seq = last_seq",
            "ALTER TABLE participants ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE participants ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE participants ADD COLUMN archived INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE messages ADD COLUMN action TEXT NOT NULL DEFAULT 'post'",
            "ALTER TABLE messages ADD COLUMN target_seq INTEGER",
            "ALTER TABLE messages ADD COLUMN emoji TEXT",
            "ALTER TABLE messages ADD COLUMN edited_at INTEGER",
            "ALTER TABLE messages ADD COLUMN deleted_at INTEGER",
            // Who reacted with what, per post: read with a page of history by (conversation, seq) range.
            """
            CREATE TABLE reactions (
                conversation_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                emoji TEXT NOT NULL,
                user_id TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY (conversation_id, seq, emoji, user_id)
            ) WITHOUT ROWID
            """,
        ],
        // The support desk: requests, each owning a support conversation.
        [
            """
            CREATE TABLE support_requests (
                id TEXT PRIMARY KEY,
                workspace TEXT NOT NULL,
                customer TEXT NOT NULL,
                conversation_id TEXT NOT NULL UNIQUE REFERENCES conversations(id),
                subject TEXT,
                status TEXT NOT NULL,
                agent TEXT,
                created_at INTEGER NOT NULL,
                claimed_at INTEGER,
                answered_at INTEGER,
                closed_at INTEGER,
                -- "workspace|customer" while open, NULL once closed: one open request per customer per workspace.
                open_key TEXT UNIQUE
            )
            """,
            // The queue: a workspace's waiting requests, oldest first.
            "CREATE INDEX support_queue ON support_requests (workspace, status, created_at)",
            // Requeue: the requests an agent holds.
            "CREATE INDEX support_by_agent ON support_requests (agent, status)",
        ],
        // A post is one statement on the one writer (an INSERT … SELECT that takes the next seq): what
        // else a post changes follows it here, in the same statement, instead of costing the writer
        // a statement each (on SQLiteNIO, each was also a hop to a thread pool). The same for any
        // insert of a post.
        [
            """
            CREATE TRIGGER messages_post AFTER INSERT ON messages WHEN NEW.action = 'post' BEGIN
                UPDATE conversations SET last_seq = NEW.seq, last_post_seq = NEW.seq,
                    last_activity_at = MAX(last_activity_at, NEW.created_at)
                WHERE id = NEW.conversation_id;
                UPDATE participants SET archived = 0 WHERE conversation_id = NEW.conversation_id AND archived = 1;
                -- A support agent's first reply: their claim no longer returns to the queue.
                UPDATE support_requests SET answered_at = NEW.created_at
                WHERE conversation_id = NEW.conversation_id AND agent = NEW.sender AND status = 'claimed' AND answered_at IS NULL;
            END
            """,
        ],
    ]
}
