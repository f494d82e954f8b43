-- A batch of posts in one statement.
--
-- Most batches are only posts, and v0007 still runs a loop with several statements per post, each an
-- executor to start. This function stores a batch of posts with the same rows and rules as
-- switchboard_append_batch, set-based: one statement takes the row locks, one more does the rest. The
-- store calls it for a batch with no other action in it, and v0007's function for any other batch.
--
-- Kept equal to the loop, draft for draft (AppendBatchTests runs both on the same batches):
-- - Refusals in the loop's order: not a participant (or no such conversation) SB404, then a repeat
--   finds its stored message, then a closed conversation SB409.
-- - A repeated (conversation, sender, client id) finds the stored message, also a repeat of a draft
--   earlier in the same batch (m_created false, the first draft's row).
-- - Seqs follow the drafts' order within a conversation, gap-free from last_seq; last_post_seq and
--   last_activity_at as after the last stored post; a conversation with a stored post is un-archived;
--   a support agent's first post marks their claim answered.
-- - The row locks are taken in code-point order of the ids (COLLATE "C"): the order in which the store
--   sends the drafts, and so the order in which the loop takes them; a batch of each kind in flight at
--   once cannot deadlock.
-- - Every read of a large table is an index probe whatever plan PL/pgSQL caches. The messages probe is
--   a LATERAL … LIMIT 1 per draft, and the function runs with enable_seqscan off: every statement
--   here has an index to use, and a plan made from statistics taken while a table was small (a new
--   database) would otherwise scan the whole table for every draft until the next ANALYZE.
-- - The plan is made once per connection (plan_cache_mode force_generic_plan): left to choose, the
--   plan cache kept planning this statement again at every call, because a plan for the call's own
--   arrays looked cheaper, and planning it cost more than running it (pgbench, one draft: 1.8 ms
--   against 0.5; bench/RESULTS.md, issue 16's tenth step).
CREATE FUNCTION switchboard_append_posts(
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
        SELECT c.id, c.last_seq, c.closed_at, c.kind,
               (SELECT array_agg(p.user_id ORDER BY p.user_id) FROM participants p WHERE p.conversation_id = c.id) AS participants
        FROM conversations c WHERE c.id = ANY (p_conversation)
    ), judged AS (
        SELECT d.*, c.last_seq, c.kind AS conversation_kind, c.participants,
               s.seq AS s_seq, s.id AS s_id, s.kind AS s_kind, s.action AS s_action, s.target_seq AS s_target_seq,
               s.emoji AS s_emoji, s.content AS s_content, s.metadata AS s_metadata, s.created_at AS s_created_at,
               s.edited_at AS s_edited_at, s.deleted_at AS s_deleted_at,
               CASE WHEN c.participants IS NULL OR NOT (d.sender = ANY (c.participants)) THEN 'SB404'
                    WHEN s.seq IS NOT NULL THEN 'stored'
                    WHEN c.closed_at IS NOT NULL THEN 'SB409'
                    WHEN min(d.i) OVER (PARTITION BY d.conversation, d.sender, d.client_id) <> d.i THEN 'repeat'
                    ELSE 'new' END AS outcome
        FROM draft d
        LEFT JOIN conversation c ON c.id = d.conversation
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
           CASE WHEN n.outcome NOT LIKE 'SB%' THEN n.participants END
    FROM numbered n
    LEFT JOIN numbered f ON n.outcome = 'repeat' AND f.outcome = 'new' AND f.conversation = n.conversation
                            AND f.sender = n.sender AND f.client_id = n.client_id
    ORDER BY n.i;
END
$$;
