-- The append checks the one permission a send needs, in the same statement: the sender must be a
-- participant (SB404 otherwise, as for a missing conversation), so a send reads nothing before it
-- appends. It returns the participants (as of the append, under the conversation's row lock) for the
-- caller's cache invalidation, instead of the caller loading the conversation first. Otherwise as
-- v0003: one round trip and one transaction; seqs gap-free and ordered under the row lock; a retried
-- (sender, client id) returns the stored message.
DROP FUNCTION switchboard_append(text, text, text, text, text, text, bigint, text, text, text, bigint);
CREATE FUNCTION switchboard_append(
    p_conversation text, p_id text, p_sender text, p_client_id text, p_kind text, p_action text,
    p_target bigint, p_emoji text, p_content text, p_metadata text, p_at bigint
) RETURNS TABLE (
    m_created boolean, m_seq bigint, m_id text, m_kind text, m_action text, m_target_seq bigint, m_emoji text,
    m_content text, m_metadata text, m_created_at bigint, m_edited_at bigint, m_deleted_at bigint,
    m_participants text[]
) LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
    v_closed bigint;
    v_conversation_kind text;
    v_kind text := p_kind;
    v_participants text[];
BEGIN
    SELECT c.last_seq, c.closed_at, c.kind INTO v_last, v_closed, v_conversation_kind
    FROM conversations c WHERE c.id = p_conversation FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such conversation' USING ERRCODE = 'SB404';
    END IF;
    SELECT array_agg(p.user_id ORDER BY p.user_id) INTO v_participants
    FROM participants p WHERE p.conversation_id = p_conversation;
    IF v_participants IS NULL OR NOT (p_sender = ANY (v_participants)) THEN
        RAISE EXCEPTION 'no such conversation' USING ERRCODE = 'SB404';
    END IF;

    RETURN QUERY
        SELECT false, m.seq, m.id, m.kind, m.action, m.target_seq, m.emoji, m.content, m.metadata, m.created_at,
               m.edited_at, m.deleted_at, v_participants
        FROM messages m
        WHERE m.conversation_id = p_conversation AND m.sender = p_sender AND m.client_id = p_client_id;
    IF FOUND THEN
        RETURN;
    END IF;

    IF v_closed IS NOT NULL THEN
        RAISE EXCEPTION 'the conversation is closed' USING ERRCODE = 'SB409';
    END IF;
    IF p_action <> 'post' THEN
        SELECT m.kind INTO v_kind FROM messages m
        WHERE m.conversation_id = p_conversation AND m.seq = p_target AND m.action = 'post' AND m.deleted_at IS NULL;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no such message' USING ERRCODE = 'SB410';
        END IF;
    END IF;

    UPDATE conversations c
    SET last_seq = v_last + 1,
        last_post_seq = CASE WHEN p_action = 'post' THEN v_last + 1 ELSE c.last_post_seq END,
        last_activity_at = CASE WHEN p_action = 'post' THEN GREATEST(c.last_activity_at, p_at) ELSE c.last_activity_at END
    WHERE c.id = p_conversation;

    CASE p_action
    WHEN 'post' THEN
        UPDATE participants p SET archived = false WHERE p.conversation_id = p_conversation AND p.archived;
        -- A support agent's first reply: their claim no longer returns to the queue.
        IF v_conversation_kind = 'support' THEN
            UPDATE support_requests s SET answered_at = p_at
            WHERE s.conversation_id = p_conversation AND s.agent = p_sender AND s.status = 'claimed'
              AND s.answered_at IS NULL;
        END IF;
    WHEN 'edit' THEN
        UPDATE messages m SET content = p_content, metadata = p_metadata, edited_at = p_at
        WHERE m.conversation_id = p_conversation AND m.seq = p_target;
    WHEN 'delete' THEN
        -- The tombstone keeps its seq; its content, the content of its edits and its reactions go.
        UPDATE messages m SET content = '', metadata = NULL, deleted_at = p_at
        WHERE m.conversation_id = p_conversation AND m.seq = p_target;
        UPDATE messages m SET content = '', metadata = NULL
        WHERE m.conversation_id = p_conversation AND m.action = 'edit' AND m.target_seq = p_target;
        DELETE FROM reactions r WHERE r.conversation_id = p_conversation AND r.seq = p_target;
    WHEN 'react' THEN
        INSERT INTO reactions (conversation_id, seq, emoji, user_id, created_at)
        VALUES (p_conversation, p_target, p_emoji, p_sender, p_at)
        ON CONFLICT DO NOTHING;
    WHEN 'unreact' THEN
        DELETE FROM reactions r
        WHERE r.conversation_id = p_conversation AND r.seq = p_target AND r.emoji = p_emoji AND r.user_id = p_sender;
    ELSE
        RAISE EXCEPTION 'unknown action %', p_action USING ERRCODE = '22023';
    END CASE;

    INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, action, target_seq, emoji, content, metadata,
                          created_at)
    VALUES (p_conversation, v_last + 1, p_id, p_sender, p_client_id, v_kind, p_action, p_target, p_emoji, p_content,
            p_metadata, p_at);
    RETURN QUERY SELECT true, v_last + 1, p_id, v_kind, p_action, p_target, p_emoji, p_content, p_metadata, p_at,
                        NULL::bigint, NULL::bigint, v_participants;
END
$$;
