-- Conversations, participants, messages and reactions. Times are milliseconds since 1970 (bigint), as in
-- the domain; ids are the domain's strings. Every index below is here for a named hot path.

CREATE TABLE conversations (
    id               text PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('direct', 'group', 'support')),
    title            text,
    workspace        text,
    created_by       text NOT NULL,
    created_at       bigint NOT NULL,
    -- The newest entry's seq: the append function bumps it under the row lock, so seqs are gap-free.
    last_seq         bigint NOT NULL DEFAULT 0,
    -- The newest post (not an edit or reaction): the list's preview, read without a scan.
    last_post_seq    bigint NOT NULL DEFAULT 0,
    last_activity_at bigint NOT NULL,
    closed_at        bigint,
    -- Direct-conversation uniqueness: "workspace|low|high", one conversation per pair of users per
    -- workspace. The unique index is also how createDirect finds an existing pair.
    direct_key       text UNIQUE
);

CREATE TABLE participants (
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'moderator', 'member')),
    joined_at       bigint NOT NULL,
    delivered_seq   bigint NOT NULL DEFAULT 0,
    read_seq        bigint NOT NULL DEFAULT 0,
    archived        boolean NOT NULL DEFAULT false,
    -- A conversation's participants (loaded with every conversation) and one participant's watermarks.
    PRIMARY KEY (conversation_id, user_id)
);

-- A user's conversations: the list, the subscribe-on-connect memberships and contacts start here. The
-- list then sorts the user's k conversations by activity (k rows, not the table); keeping activity on
-- participant rows instead would make every post in a group of n cost n row updates.
CREATE INDEX participants_by_user ON participants (user_id, conversation_id);

-- A post un-archives the conversation for everyone: only the archived rows are visited.
CREATE INDEX participants_archived ON participants (conversation_id) WHERE archived;

CREATE TABLE messages (
    conversation_id text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    id              text NOT NULL,
    sender          text NOT NULL,
    client_id       text NOT NULL,
    kind            text NOT NULL,
    -- post, edit, delete, react or unreact: every change is an entry with its own seq.
    action          text NOT NULL DEFAULT 'post',
    target_seq      bigint,
    emoji           text,
    content         text NOT NULL,
    -- The client's JSON metadata, kept as sent: the server never looks inside it.
    metadata        text,
    created_at      bigint NOT NULL,
    edited_at       bigint,
    deleted_at      bigint,
    -- History by conversation and seq: pages, resume ranges, unread counts and single entries.
    PRIMARY KEY (conversation_id, seq),
    -- Send idempotency: a retried (conversation, sender, client id) finds the stored message.
    UNIQUE (conversation_id, sender, client_id)
);

-- Deleting a post clears the content of its edits: the edits of one target, without a scan.
CREATE INDEX messages_edits ON messages (conversation_id, target_seq) WHERE action = 'edit';

CREATE TABLE reactions (
    conversation_id text NOT NULL,
    seq             bigint NOT NULL,
    emoji           text NOT NULL,
    user_id         text NOT NULL,
    created_at      bigint NOT NULL,
    -- Who reacted with what, per post: read for a page of history by (conversation, seq) range.
    PRIMARY KEY (conversation_id, seq, emoji, user_id)
);
