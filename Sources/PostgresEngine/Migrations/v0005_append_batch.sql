-- Group commit: several appends in one call, one round trip and one transaction (one commit, one WAL
-- flush) instead of one each. Element i of every array is one draft, as switchboard_append takes it;
-- the caller orders the drafts by conversation (so concurrent batches take the conversations' row
-- locks in one order and never deadlock) and keeps each conversation's drafts in arrival order.
--
-- Each draft runs in a subtransaction: a draft refused with one of Switchboard's own SQLSTATEs (SB404
-- no such conversation or not a participant, SB409 closed, SB410 no such target) comes back as a row
-- with that code in b_error and nothing stored for it, and the others go on. Any other error fails the
-- whole batch, and nothing of it is stored. A repeated (sender, client id) within the batch finds the
-- first one's row (the same transaction) and returns it with m_created false. Arrays carry no NULLs:
-- a target of 0, an empty emoji and empty metadata stand for none.
CREATE FUNCTION switchboard_append_batch(
    p_conversation text[], p_id text[], p_sender text[], p_client_id text[], p_kind text[], p_action text[],
    p_target bigint[], p_emoji text[], p_content text[], p_metadata text[], p_at bigint[]
) RETURNS TABLE (
    b_index integer, b_error text,
    m_created boolean, m_seq bigint, m_id text, m_kind text, m_action text, m_target_seq bigint, m_emoji text,
    m_content text, m_metadata text, m_created_at bigint, m_edited_at bigint, m_deleted_at bigint,
    m_participants text[]
) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_conversation, 1), 0) LOOP
        BEGIN
            RETURN QUERY SELECT i, NULL::text, a.*
            FROM switchboard_append(
                p_conversation[i], p_id[i], p_sender[i], p_client_id[i], p_kind[i], p_action[i], NULLIF(p_target[i], 0),
                NULLIF(p_emoji[i], ''), p_content[i], NULLIF(p_metadata[i], ''), p_at[i]) a;
        EXCEPTION WHEN SQLSTATE 'SB404' OR SQLSTATE 'SB409' OR SQLSTATE 'SB410' THEN
            RETURN QUERY SELECT i, SQLSTATE::text, NULL::boolean, NULL::bigint, NULL::text, NULL::text, NULL::text,
                NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text[];
        END;
    END LOOP;
END
$$;
