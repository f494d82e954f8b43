-- Nothing an append does grows with the conversation's size.
--
-- v0007 and v0008 read every participant of each conversation in the batch (an array_agg over all of
-- them), to check the sender against it, to return it to the node and (v0007) to learn whether anyone
-- had archived the conversation: work and bytes proportional to the group for every send, in a group
-- of a thousand a thousand ids per message. The node no longer uses the participants (its cache
-- depends on the conversation's one activity key), so now:
-- - the sender's membership is one probe of the participants' key (conversation, user) per draft;
-- - whether anyone archived the conversation is one probe of the partial index on archived rows.
--   Each probe is a scalar EXISTS or a LATERAL … LIMIT 1 join: an EXISTS correlated with the rows of
--   the set-based statement was planned (generic plan) as a hashed subquery that read every
--   participant of the conversation at each call, the very cost this removes;
-- - m_participants is an empty array. The column stays, and both functions keep their signatures, so
--   that nodes of the previous release (which decode it and use nothing of it) keep working through a
--   rolling deploy; a later migration may drop it once no such node runs.
-- - The single append of nodes older still (before group commit, when a send invalidated every
--   participant's list) reads the participants itself, as before: only such a node pays for them.
-- Every other rule, row and refusal is as in v0007 and v0008 (AppendBatchTests runs both functions on
-- the same batches and compares them).

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
            SELECT c.last_seq, c.last_post_seq, c.last_activity_at, c.closed_at, c.kind, a.archived IS NOT NULL
            INTO v_last, v_last_post, v_activity, v_closed, v_conversation_kind, v_archived
            FROM conversations c
            LEFT JOIN LATERAL (
                SELECT true AS archived FROM participants p WHERE p.conversation_id = c.id AND p.archived LIMIT 1
            ) a ON true
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
            IF NOT v_found OR NOT EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = v_conversation AND p.user_id = v_sender) THEN
                v_refusal := 'SB404';
                EXIT draft;
            END IF;

            v_action := p_action[i];
            v_target := NULLIF(p_target[i], 0);
            v_emoji := NULLIF(p_emoji[i], '');
            v_metadata := NULLIF(p_metadata[i], '');
            v_at := p_at[i];
            v_kind := p_kind[i];
            m_participants := '{}';

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

CREATE OR REPLACE FUNCTION switchboard_append_posts(
    p_conversation text[], p_id text[], p_sender text[], p_client_id text[], p_kind text[],
    p_content text[], p_metadata text[], p_at bigint[]
) RETURNS TABLE (
    b_index integer, b_error text,
    m_created boolean, m_seq bigint, m_id text, m_kind text, m_action text, m_target_seq bigint, m_emoji text,
    m_content text, m_metadata text, m_created_at bigint, m_edited_at bigint, m_deleted_at bigint,
    m_participants text[]
) LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
AS $$
BEGIN
    -- Locked before the statement below starts, so its snapshot sees every commit that held them.
    PERFORM 1 FROM conversations c WHERE c.id = ANY (p_conversation) ORDER BY c.id COLLATE "C" FOR UPDATE OF c;
    RETURN QUERY
    WITH draft AS (
        SELECT d.i::integer AS i, d.conversation, d.id, d.sender, d.client_id, d.kind, d.content,
               NULLIF(d.metadata, '') AS metadata, d.at
        FROM unnest(p_conversation, p_id, p_sender, p_client_id, p_kind, p_content, p_metadata, p_at)
             WITH ORDINALITY AS d (conversation, id, sender, client_id, kind, content, metadata, at, i)
    ), conversation AS (
        SELECT c.id, c.last_seq, c.closed_at, c.kind
        FROM conversations c WHERE c.id = ANY (p_conversation)
    ), judged AS (
        SELECT d.*, c.last_seq, c.kind AS conversation_kind,
               s.seq AS s_seq, s.id AS s_id, s.kind AS s_kind, s.action AS s_action, s.target_seq AS s_target_seq,
               s.emoji AS s_emoji, s.content AS s_content, s.metadata AS s_metadata, s.created_at AS s_created_at,
               s.edited_at AS s_edited_at, s.deleted_at AS s_deleted_at,
               CASE WHEN c.id IS NULL OR pm.member IS NULL THEN 'SB404'
                    WHEN s.seq IS NOT NULL THEN 'stored'
                    WHEN c.closed_at IS NOT NULL THEN 'SB409'
                    WHEN min(d.i) OVER (PARTITION BY d.conversation, d.sender, d.client_id) <> d.i THEN 'repeat'
                    ELSE 'new' END AS outcome
        FROM draft d
        LEFT JOIN conversation c ON c.id = d.conversation
        LEFT JOIN LATERAL (
            SELECT true AS member FROM participants p WHERE p.conversation_id = d.conversation AND p.user_id = d.sender LIMIT 1
        ) pm ON true
        LEFT JOIN LATERAL (
            SELECT m.* FROM messages m
            WHERE m.conversation_id = d.conversation AND m.sender = d.sender AND m.client_id = d.client_id LIMIT 1
        ) s ON true
    ), numbered AS (
        SELECT j.*,
               CASE WHEN j.outcome = 'new'
                    THEN j.last_seq + count(*) FILTER (WHERE j.outcome = 'new') OVER (PARTITION BY j.conversation ORDER BY j.i)
               END AS seq
        FROM judged j
    ), inserted AS (
        INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, action, content, metadata, created_at)
        SELECT n.conversation, n.seq, n.id, n.sender, n.client_id, n.kind, 'post', n.content, n.metadata, n.at
        FROM numbered n WHERE n.outcome = 'new'
    ), counted AS (
        UPDATE conversations c
        SET last_seq = k.top, last_post_seq = k.top, last_activity_at = GREATEST(c.last_activity_at, k.at)
        FROM (SELECT n.conversation, max(n.seq) AS top, max(n.at) AS at FROM numbered n WHERE n.outcome = 'new'
              GROUP BY n.conversation) k
        WHERE c.id = k.conversation
    ), unarchived AS (
        UPDATE participants p SET archived = false
        WHERE p.archived AND p.conversation_id IN (SELECT n.conversation FROM numbered n WHERE n.outcome = 'new')
    ), answered AS (
        -- A support agent's first reply: their claim no longer returns to the queue.
        UPDATE support_requests s SET answered_at = k.at
        FROM (SELECT DISTINCT ON (n.conversation, n.sender) n.conversation, n.sender, n.at FROM numbered n
              WHERE n.outcome = 'new' AND n.conversation_kind = 'support' ORDER BY n.conversation, n.sender, n.i) k
        WHERE s.conversation_id = k.conversation AND s.agent = k.sender AND s.status = 'claimed' AND s.answered_at IS NULL
    )
    -- A new post its own row; a repeat of a stored message that message; a repeat within the batch the
    -- first draft's row; a refusal its code and nothing else.
    SELECT n.i,
           CASE WHEN n.outcome LIKE 'SB%' THEN n.outcome END,
           CASE WHEN n.outcome NOT LIKE 'SB%' THEN n.outcome = 'new' END,
           CASE n.outcome WHEN 'new' THEN n.seq WHEN 'stored' THEN n.s_seq WHEN 'repeat' THEN f.seq END,
           CASE n.outcome WHEN 'new' THEN n.id WHEN 'stored' THEN n.s_id WHEN 'repeat' THEN f.id END,
           CASE n.outcome WHEN 'new' THEN n.kind WHEN 'stored' THEN n.s_kind WHEN 'repeat' THEN f.kind END,
           CASE n.outcome WHEN 'stored' THEN n.s_action WHEN 'new' THEN 'post' WHEN 'repeat' THEN 'post' END,
           CASE n.outcome WHEN 'stored' THEN n.s_target_seq END,
           CASE n.outcome WHEN 'stored' THEN n.s_emoji END,
           CASE n.outcome WHEN 'new' THEN n.content WHEN 'stored' THEN n.s_content WHEN 'repeat' THEN f.content END,
           CASE n.outcome WHEN 'new' THEN n.metadata WHEN 'stored' THEN n.s_metadata WHEN 'repeat' THEN f.metadata END,
           CASE n.outcome WHEN 'new' THEN n.at WHEN 'stored' THEN n.s_created_at WHEN 'repeat' THEN f.at END,
           CASE n.outcome WHEN 'stored' THEN n.s_edited_at END,
           CASE n.outcome WHEN 'stored' THEN n.s_deleted_at END,
           CASE WHEN n.outcome NOT LIKE 'SB%' THEN '{}'::text[] END
    FROM numbered n
    LEFT JOIN numbered f ON n.outcome = 'repeat' AND f.outcome = 'new' AND f.conversation = n.conversation
                            AND f.sender = n.sender AND f.client_id = n.client_id
    ORDER BY n.i;
END
$$;

-- For nodes that call the single append (see above): its row names the participants, as it always did.
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
                        r.m_metadata, r.m_created_at, r.m_edited_at, r.m_deleted_at,
                        (SELECT array_agg(p.user_id ORDER BY p.user_id) FROM participants p WHERE p.conversation_id = p_conversation);
END
$$;
