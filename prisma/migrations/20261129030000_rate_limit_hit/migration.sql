-- Counts an OTP send against its limits in one round trip (it was a transaction of five: BEGIN, the locks, the
-- counts, the insert, COMMIT; each lock was held across the three round trips after it).
--
-- Called as a statement of its own, its transaction is the statement's: the advisory lock of every key - taken in
-- key order, so that two sends never wait for each other crosswise - is held until it returns. Each statement of a
-- PL/pgSQL function takes a fresh snapshot under READ COMMITTED, so the counts, taken after the locks, see every
-- send that held them before. A limit is reached when its window holds at least its maximum of events (and at least
-- one). Returns the first limit reached, in the order of `p_limit_keys` (its position from 1, and the oldest event in
-- its window), or - when none is - the ids of the events recorded for the send, one per key of `p_keys`.
CREATE FUNCTION "rate_limit_hit"(
    p_keys TEXT[], p_limit_keys TEXT[], p_since TIMESTAMPTZ[], p_maxes BIGINT[], p_at TIMESTAMPTZ
) RETURNS TABLE ("reached" INTEGER, "oldest" TIMESTAMPTZ, "event_ids" BIGINT[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM count(pg_advisory_xact_lock(hashtextextended(ordered.key, 0)))
    FROM (SELECT unnest(p_keys) AS key ORDER BY 1) AS ordered;
    SELECT c.i, c.first INTO reached, oldest
    FROM (
        SELECT l.i, l.max, count(e.id) AS n, min(e.created_at) AS first
        FROM unnest(p_limit_keys, p_since, p_maxes) WITH ORDINALITY AS l(key, since, max, i)
        LEFT JOIN rate_limit_events e ON e.key = l.key AND e.created_at > l.since
        GROUP BY l.i, l.max
    ) AS c
    WHERE c.n >= c.max AND c.n > 0
    ORDER BY c.i
    LIMIT 1;
    IF reached IS NULL THEN
        WITH recorded AS (
            INSERT INTO rate_limit_events (key, created_at) SELECT unnest(p_keys), p_at RETURNING id
        )
        SELECT array_agg(recorded.id) INTO event_ids FROM recorded;
    END IF;
    RETURN NEXT;
END
$$;
