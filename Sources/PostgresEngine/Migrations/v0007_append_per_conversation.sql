-- The batch's work per conversation, not per draft, and fewer statements per draft.
--
-- Same signature, rows and rules as v0006. Profiled under load (bench/RESULTS.md, issue 16's ninth
-- step), v0006 spent most of its time starting executors: seven statements per post (lock, participants,
-- the repeat check, the counter update, the un-archive, the insert, the result row), each a plan to
-- start and end. Now, for the drafts of one conversation (the caller sends them together, in arrival
-- order):
-- - the row lock, the counters, the participants and whether any of them archived the conversation
--   are read once, in one statement;
-- - the counters are kept here and written once, when the batch moves to the next conversation;
-- - a post to an open conversation is one INSERT … ON CONFLICT DO NOTHING on the idempotency key: the
--   insert is the repeat check, and only a repeat reads the stored message;
-- - the un-archive runs only when a participant has the conversation archived;
-- - rows are returned with RETURN NEXT (no query per row).
-- Edits, deletes and reactions keep v0006's order of checks (repeat, closed, target).
--
-- Nothing else changed: a refused draft is a row with its code in b_error, a repeated (sender, client
-- id) finds the stored message (m_created false, also within one batch), seqs are gap-free under the
-- conversation's row lock, and any other error fails the whole batch.
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
    -- The conversation whose row this batch locked last, and its state as this batch left it.
    v_conversation text := NULL;
    v_found boolean := false;
    v_last bigint;
    v_last_post bigint;
    v_activity bigint;
    v_closed bigint;
    v_conversation_kind text;
    v_participants text[];
    v_archived boolean;
    -- The counters above differ from the stored row.
    v_dirty boolean := false;
    -- The draft's.
    v_sender text;
    v_action text;
    v_target bigint;
    v_emoji text;
    v_metadata text;
    v_at bigint;
    v_kind text;
    v_seq bigint;
    v_refusal text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_conversation, 1), 0) LOOP
        IF v_conversation IS DISTINCT FROM p_conversation[i] THEN
            IF v_dirty THEN
                UPDATE conversations c SET last_seq = v_last, last_post_seq = v_last_post, last_activity_at = v_activity
                WHERE c.id = v_conversation;
            END IF;
            v_conversation := p_conversation[i];
            v_dirty := false;
            SELECT c.last_seq, c.last_post_seq, c.last_activity_at, c.closed_at, c.kind,
                   p.users, p.archived
            INTO v_last, v_last_post, v_activity, v_closed, v_conversation_kind, v_participants, v_archived
            FROM conversations c,
                 LATERAL (SELECT array_agg(p.user_id ORDER BY p.user_id) AS users, bool_or(p.archived) AS archived
                          FROM participants p WHERE p.conversation_id = c.id) p
            WHERE c.id = v_conversation FOR UPDATE OF c;
            v_found := FOUND;
        END IF;

        v_sender := p_sender[i];
        b_index := i;
        b_error := NULL;
        v_refusal := NULL;
        -- A block without an exception clause (no subtransaction): a draft stored or repeated returns its
        -- row and goes on to the next; a refused one leaves the block with its code, for the row below.
        <<draft>>
        BEGIN
            IF NOT v_found OR v_participants IS NULL OR NOT (v_sender = ANY (v_participants)) THEN
                v_refusal := 'SB404';
                EXIT draft;
            END IF;

            v_action := p_action[i];
            v_target := NULLIF(p_target[i], 0);
            v_emoji := NULLIF(p_emoji[i], '');
            v_metadata := NULLIF(p_metadata[i], '');
            v_at := p_at[i];
            v_kind := p_kind[i];
            m_participants := v_participants;

            IF v_action = 'post' AND v_closed IS NULL THEN
                -- The insert is the repeat check: the idempotency key's index refuses a second row.
                INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, action, content, metadata, created_at)
                VALUES (v_conversation, v_last + 1, p_id[i], v_sender, p_client_id[i], v_kind, 'post', p_content[i],
                        v_metadata, v_at)
                ON CONFLICT (conversation_id, sender, client_id) DO NOTHING;
                IF FOUND THEN
                    v_last := v_last + 1;
                    v_last_post := v_last;
                    v_activity := GREATEST(v_activity, v_at);
                    v_dirty := true;
                    IF v_archived THEN
                        UPDATE participants p SET archived = false WHERE p.conversation_id = v_conversation AND p.archived;
                        v_archived := false;
                    END IF;
                    -- A support agent's first reply: their claim no longer returns to the queue.
                    IF v_conversation_kind = 'support' THEN
                        UPDATE support_requests s SET answered_at = v_at
                        WHERE s.conversation_id = v_conversation AND s.agent = v_sender AND s.status = 'claimed'
                          AND s.answered_at IS NULL;
                    END IF;
                    m_created := true; m_seq := v_last; m_id := p_id[i]; m_kind := v_kind; m_action := 'post';
                    m_target_seq := NULL; m_emoji := NULL; m_content := p_content[i]; m_metadata := v_metadata;
                    m_created_at := v_at; m_edited_at := NULL; m_deleted_at := NULL;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
            END IF;

            -- A repeat (of any action) returns what is stored.
            SELECT false, m.seq, m.id, m.kind, m.action, m.target_seq, m.emoji, m.content, m.metadata, m.created_at,
                   m.edited_at, m.deleted_at
            INTO m_created, m_seq, m_id, m_kind, m_action, m_target_seq, m_emoji, m_content, m_metadata, m_created_at,
                 m_edited_at, m_deleted_at
            FROM messages m
            WHERE m.conversation_id = v_conversation AND m.sender = v_sender AND m.client_id = p_client_id[i];
            IF FOUND THEN
                RETURN NEXT;
                CONTINUE;
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

            -- An edit, a delete or a reaction. A post comes here only if its insert met a conflict the read
            -- above did not find, which the row lock rules out: its second insert would then fail the batch.
            CASE v_action
            WHEN 'post' THEN
                NULL;
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

            v_seq := v_last + 1;
            INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, action, target_seq, emoji, content,
                                  metadata, created_at)
            VALUES (v_conversation, v_seq, p_id[i], v_sender, p_client_id[i], v_kind, v_action, v_target, v_emoji,
                    p_content[i], v_metadata, v_at);
            v_last := v_seq;
            v_dirty := true;
            m_created := true; m_seq := v_seq; m_id := p_id[i]; m_kind := v_kind; m_action := v_action;
            m_target_seq := v_target; m_emoji := v_emoji; m_content := p_content[i]; m_metadata := v_metadata;
            m_created_at := v_at; m_edited_at := NULL; m_deleted_at := NULL;
            RETURN NEXT;
            CONTINUE;
        END;

        -- Refused: the row carries the code and nothing else.
        b_error := v_refusal;
        m_created := NULL; m_seq := NULL; m_id := NULL; m_kind := NULL; m_action := NULL; m_target_seq := NULL;
        m_emoji := NULL; m_content := NULL; m_metadata := NULL; m_created_at := NULL; m_edited_at := NULL;
        m_deleted_at := NULL; m_participants := NULL;
        RETURN NEXT;
    END LOOP;
    IF v_dirty THEN
        UPDATE conversations c SET last_seq = v_last, last_post_seq = v_last_post, last_activity_at = v_activity
        WHERE c.id = v_conversation;
    END IF;
END
$$;
