-- Group commit across conversations, without a subtransaction per draft.
--
-- switchboard_append_batch keeps its signature and its rows (v0005), and now holds the append's whole
-- logic (v0004's switchboard_append): a draft refused with one of Switchboard's own codes (SB404 no
-- such conversation or not a participant, SB409 closed, SB410 no such target) is found refused before
-- anything is written for it and comes back as a row with the code in b_error, so no draft needs an
-- exception block (each one was a subtransaction: an XID, a savepoint and its release per draft, which
-- made batches of several conversations dearer than lone appends). Any other error still fails the
-- whole batch, and nothing of it is stored.
--
-- The caller orders the drafts by conversation (concurrent batches take the row locks in one order and
-- never deadlock) and keeps each conversation's drafts in arrival order. Under a conversation's row
-- lock every earlier append to it has committed or is earlier in this batch, so seqs are gap-free and
-- ordered, and a repeated (sender, client id) finds the stored message (m_created false). Arrays carry
-- no NULLs: a target of 0, an empty emoji and empty metadata stand for none.
CREATE OR REPLACE FUNCTION switchboard_append_batch(
    p_conversation text[], p_id text[], p_sender text[], p_client_id text[], p_kind text[], p_action text[],
    p_target bigint[], p_emoji text[], p_content text[], p_metadata text[], p_at bigint[]
) RETURNS TABLE (
    b_index integer, b_error text,
    m_created boolean, m_seq bigint, m_id text, m_kind text, m_action text, m_target_seq bigint, m_emoji text,
    m_content text, m_metadata text, m_created_at bigint, m_edited_at bigint, m_deleted_at bigint,
    m_participants text[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_conversation text;
    v_sender text;
    v_action text;
    v_target bigint;
    v_emoji text;
    v_metadata text;
    v_at bigint;
    v_last bigint;
    v_closed bigint;
    v_conversation_kind text;
    v_kind text;
    v_participants text[];
    v_refusal text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_conversation, 1), 0) LOOP
        v_conversation := p_conversation[i];
        v_sender := p_sender[i];
        v_action := p_action[i];
        v_target := NULLIF(p_target[i], 0);
        v_emoji := NULLIF(p_emoji[i], '');
        v_metadata := NULLIF(p_metadata[i], '');
        v_at := p_at[i];
        v_kind := p_kind[i];
        v_refusal := NULL;
        -- A block without an exception clause: no subtransaction. EXIT draft leaves it early.
        <<draft>>
        BEGIN
            SELECT c.last_seq, c.closed_at, c.kind INTO v_last, v_closed, v_conversation_kind
            FROM conversations c WHERE c.id = v_conversation FOR UPDATE;
            IF NOT FOUND THEN
                v_refusal := 'SB404';
                EXIT draft;
            END IF;
            SELECT array_agg(p.user_id ORDER BY p.user_id) INTO v_participants
            FROM participants p WHERE p.conversation_id = v_conversation;
            IF v_participants IS NULL OR NOT (v_sender = ANY (v_participants)) THEN
                v_refusal := 'SB404';
                EXIT draft;
            END IF;

            RETURN QUERY
                SELECT i, NULL::text, false, m.seq, m.id, m.kind, m.action, m.target_seq, m.emoji, m.content, m.metadata,
                       m.created_at, m.edited_at, m.deleted_at, v_participants
                FROM messages m
                WHERE m.conversation_id = v_conversation AND m.sender = v_sender AND m.client_id = p_client_id[i];
            IF FOUND THEN
                EXIT draft;
            END IF;

            IF v_closed IS NOT NULL THEN
                v_refusal := 'SB409';
                EXIT draft;
            END IF;
            IF v_action <> 'post' THEN
                SELECT m.kind INTO v_kind FROM messages m
                WHERE m.conversation_id = v_conversation AND m.seq = v_target AND m.action = 'post' AND m.deleted_at IS NULL;
                IF NOT FOUND THEN
                    v_refusal := 'SB410';
                    EXIT draft;
                END IF;
            END IF;

            UPDATE conversations c
            SET last_seq = v_last + 1,
                last_post_seq = CASE WHEN v_action = 'post' THEN v_last + 1 ELSE c.last_post_seq END,
                last_activity_at = CASE WHEN v_action = 'post' THEN GREATEST(c.last_activity_at, v_at) ELSE c.last_activity_at END
            WHERE c.id = v_conversation;

            CASE v_action
            WHEN 'post' THEN
                UPDATE participants p SET archived = false WHERE p.conversation_id = v_conversation AND p.archived;
                -- A support agent's first reply: their claim no longer returns to the queue.
                IF v_conversation_kind = 'support' THEN
                    UPDATE support_requests s SET answered_at = v_at
                    WHERE s.conversation_id = v_conversation AND s.agent = v_sender AND s.status = 'claimed'
                      AND s.answered_at IS NULL;
                END IF;
            WHEN 'edit' THEN
                UPDATE messages m SET content = p_content[i], metadata = v_metadata, edited_at = v_at
                WHERE m.conversation_id = v_conversation AND m.seq = v_target;
            WHEN 'delete' THEN
                -- The tombstone keeps its seq; its content, the content of its edits and its reactions go.
                UPDATE messages m SET content = '', metadata = NULL, deleted_at = v_at
                WHERE m.conversation_id = v_conversation AND m.seq = v_target;
                UPDATE messages m SET content = '', metadata = NULL
                WHERE m.conversation_id = v_conversation AND m.action = 'edit' AND m.target_seq = v_target;
                DELETE FROM reactions r WHERE r.conversation_id = v_conversation AND r.seq = v_target;
            WHEN 'react' THEN
                INSERT INTO reactions (conversation_id, seq, emoji, user_id, created_at)
                VALUES (v_conversation, v_target, v_emoji, v_sender, v_at)
                ON CONFLICT DO NOTHING;
            WHEN 'unreact' THEN
                DELETE FROM reactions r
                WHERE r.conversation_id = v_conversation AND r.seq = v_target AND r.emoji = v_emoji AND r.user_id = v_sender;
            ELSE
                RAISE EXCEPTION 'unknown action %', v_action USING ERRCODE = '22023';
            END CASE;

            INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, action, target_seq, emoji, content,
                                  metadata, created_at)
            VALUES (v_conversation, v_last + 1, p_id[i], v_sender, p_client_id[i], v_kind, v_action, v_target, v_emoji,
                    p_content[i], v_metadata, v_at);
            RETURN QUERY SELECT i, NULL::text, true, v_last + 1, p_id[i], v_kind, v_action, v_target, v_emoji, p_content[i],
                                v_metadata, v_at, NULL::bigint, NULL::bigint, v_participants;
        END;
        IF v_refusal IS NOT NULL THEN
            RETURN QUERY SELECT i, v_refusal, NULL::boolean, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::bigint,
                                NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text[];
        END IF;
    END LOOP;
END
$$;

-- The node calls only switchboard_append_batch now (a lone send is a batch of one). The single append
-- stays, with its signature, its rows and its SQLSTATEs, for nodes of an earlier version during a
-- rolling upgrade: one batch of one, its refusal raised.
CREATE OR REPLACE FUNCTION switchboard_append(
    p_conversation text, p_id text, p_sender text, p_client_id text, p_kind text, p_action text,
    p_target bigint, p_emoji text, p_content text, p_metadata text, p_at bigint
) RETURNS TABLE (
    m_created boolean, m_seq bigint, m_id text, m_kind text, m_action text, m_target_seq bigint, m_emoji text,
    m_content text, m_metadata text, m_created_at bigint, m_edited_at bigint, m_deleted_at bigint,
    m_participants text[]
) LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM switchboard_append_batch(
        ARRAY[p_conversation], ARRAY[p_id], ARRAY[p_sender], ARRAY[p_client_id], ARRAY[p_kind], ARRAY[p_action],
        ARRAY[coalesce(p_target, 0)], ARRAY[coalesce(p_emoji, '')], ARRAY[p_content], ARRAY[coalesce(p_metadata, '')],
        ARRAY[p_at]) b;
    IF r.b_error = 'SB404' THEN
        RAISE EXCEPTION 'no such conversation' USING ERRCODE = 'SB404';
    ELSIF r.b_error = 'SB409' THEN
        RAISE EXCEPTION 'the conversation is closed' USING ERRCODE = 'SB409';
    ELSIF r.b_error = 'SB410' THEN
        RAISE EXCEPTION 'no such message' USING ERRCODE = 'SB410';
    END IF;
    RETURN QUERY SELECT r.m_created, r.m_seq, r.m_id, r.m_kind, r.m_action, r.m_target_seq, r.m_emoji, r.m_content,
                        r.m_metadata, r.m_created_at, r.m_edited_at, r.m_deleted_at, r.m_participants;
END
$$;
