-- The support desk: requests, each owning a support conversation.

CREATE TABLE support_requests (
    id              text PRIMARY KEY,
    workspace       text NOT NULL,
    customer        text NOT NULL,
    -- The request a support conversation belongs to (closing the conversation closes it).
    conversation_id text NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE,
    subject         text,
    status          text NOT NULL CHECK (status IN ('waiting', 'claimed', 'closed')),
    agent           text,
    created_at      bigint NOT NULL,
    claimed_at      bigint,
    answered_at     bigint,
    closed_at       bigint,
    -- "workspace|customer" while open, NULL once closed: one open request per customer per workspace.
    open_key        text UNIQUE
);

-- The queue: a workspace's waiting requests, oldest first (only waiting rows are indexed).
CREATE INDEX support_queue ON support_requests (workspace, created_at, id) WHERE status = 'waiting';

-- Requeue: the requests an agent holds.
CREATE INDEX support_by_agent ON support_requests (agent) WHERE status = 'claimed';
