-- Claims and ends as functions (issue 17, half the cost per tick). A statement sent by tickd
-- was planned at every call: 2.4 ms per 500-row claim and 2.9 ms per 500-row end, about a
-- fifth of PostgreSQL's CPU per tick at 10,000 ticks a second. PL/pgSQL keeps each
-- statement's plan for its session, so a claim or an end is planned once per connection.
-- (Named prepared statements would do the same, but a transaction pooler such as pgbouncer
-- hands each transaction another server connection, where they do not exist; a function
-- call works through any pooler.)
--
-- The plans are generic (plan_cache_mode): a custom plan per call is what cost, and the
-- generic one prunes job_run's day partitions as it runs (runtime pruning). Table names are
-- resolved in the caller's search_path, as the statements' were: a cached plan is made again
-- when the search_path differs.

-- tickd_take_running_slot (sql/008) again, now waiting for an end in flight: the slot's row
-- is looked at with FOR SHARE, which waits for a writer ending it right now (an end whose
-- transaction has not committed) and then reads the row as it ended. Without it, a claim
-- at its instant found the previous tick of its region still running whenever that tick's
-- end had not yet committed, and skipped the tick as overlapping: under load, ticks went
-- missing behind ends a few milliseconds late (the single table's unique index of running
-- rows made such an insert wait for the end instead). The lock is taken in a subtransaction
-- rolled back at once, so it is not held to the end of the caller's statement: an end of
-- that row would otherwise wait for the claim, while the claim waits for the end of another
-- row of the same batch of ends, a deadlock.
CREATE OR REPLACE FUNCTION tickd_take_running_slot(region bigint, at timestamptz)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  held timestamptz;
  runs boolean;
BEGIN
  FOR i IN 1..5 LOOP
    UPDATE region_running r SET scheduled_for = at
      WHERE r.region_id = region AND r.scheduled_for IS NULL;
    IF FOUND THEN
      RETURN true;
    END IF;
    INSERT INTO region_running (region_id, scheduled_for) VALUES (region, at)
      ON CONFLICT (region_id) DO NOTHING;
    IF FOUND THEN
      RETURN true;
    END IF;
    SELECT r.scheduled_for INTO held FROM region_running r WHERE r.region_id = region;
    CONTINUE WHEN NOT FOUND OR held IS NULL;  -- given back meanwhile: try again
    IF held = at THEN
      RETURN true;
    END IF;
    BEGIN
      PERFORM FROM job_run j WHERE j.region_id = region AND j.scheduled_for = held
        AND j.status = 'running' AND NOT j.overlap_allowed FOR SHARE OF j;
      runs := FOUND;
      RAISE EXCEPTION USING ERRCODE = 'TKLCK';  -- rolls the lock back, and only it
    EXCEPTION WHEN SQLSTATE 'TKLCK' THEN
      NULL;  -- runs keeps its value: variables are not rolled back
    END;
    IF runs THEN
      RETURN false;
    END IF;
    UPDATE region_running r SET scheduled_for = at
      WHERE r.region_id = region AND r.scheduled_for = held;
    IF FOUND THEN
      RETURN true;
    END IF;  -- taken or given back meanwhile: look again
  END LOOP;
  RAISE EXCEPTION 'job_run: the running slot of region % kept changing', region;
END $$;

-- Claims the ticks of one instant in one statement (one implicit transaction, so it also
-- works behind a transaction pooler). Per tick: a transaction-scoped advisory lock
-- serialises concurrent claims of it; the unique (region_id, scheduled_for) makes the claim
-- durable; a tick is not claimed once its start deadline has passed on the database's clock
-- (a claim that was stuck in a dead connection must not start late); and a region's second
-- running tick is refused by its slot in region_running (sql/008), taken here for all the
-- ticks at once (tickd.on_running = 'kept'): a slot held by another running row is looked at
-- again by tickd_take_running_slot, on a fresh snapshot (its holder may just have committed,
-- or ended). A slot taken for a tick whose row then conflicts is left behind and taken over
-- by the region's next claim. The row records what the tick was scheduled under: trigger
-- 'schedule', and the expression and zone of the row tickd computed the instant from (which
-- a concurrent UPDATE may already have changed in region_index). overlap_allowed comes from
-- region_index itself, as the claim reads it: the database's own rule on running rows
-- follows the database's row.
--
-- ids: the regions; lock_keys: their advisory keys (src/dispatch/claim_key.hpp); instant: the
-- tick's instant; replica: the claiming replica; deadlines: the start deadlines; crons, zones:
-- the expressions and time zones (each array in the order of ids). One row per region of
-- ids: (region, new run id or NULL, got the lock, a row for this tick existed before the
-- statement, the region exists, the deadline had passed).
CREATE FUNCTION tickd_claim_batch(ids bigint[], lock_keys bigint[], instant timestamptz,
                                  replica text, deadlines timestamptz[], crons text[],
                                  zones text[])
RETURNS TABLE (tick_region bigint, run_id bigint, got_lock boolean, existed boolean,
               region_exists boolean, expired boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN QUERY
  WITH slots_kept AS MATERIALIZED (SELECT set_config('tickd.on_running', 'kept', true) AS mode),
  want AS (SELECT * FROM unnest(ids, lock_keys, deadlines, crons, zones)
             AS w (region_id, lock_key, deadline, cron_schedule, timezone)),
  locked AS (SELECT w.region_id, r.overlap = 'allow' AS overlap_allowed
             FROM want w JOIN region_index r ON r.id = w.region_id
             JOIN slots_kept ON slots_kept.mode = 'kept'
             WHERE pg_try_advisory_xact_lock(w.lock_key)),
  timely AS MATERIALIZED (SELECT l.*, w.cron_schedule, w.timezone
    FROM locked l JOIN want w USING (region_id) WHERE clock_timestamp() <= w.deadline),
  -- Slots free in this statement's snapshot: NULL, or held by a row that no longer runs
  -- (tickd's ends leave the slot as it is: an ended row stays ended, so the next claim can
  -- tell, and the end spares an update and a row lock per tick). Each is taken only if it
  -- still holds what was seen (compared again on the newest version of the slot, should a
  -- concurrent claim have taken it meanwhile); otherwise it is looked at again below, on a
  -- fresh snapshot. No live slot is locked (sql/008: tickd_take_running_slot says why).
  seen AS MATERIALIZED (SELECT s.region_id, s.scheduled_for FROM region_running s
    JOIN timely t ON s.region_id = t.region_id WHERE NOT t.overlap_allowed
    AND (s.scheduled_for IS NULL OR NOT EXISTS (SELECT FROM job_run j
      WHERE j.region_id = s.region_id AND j.scheduled_for = s.scheduled_for
      AND j.status = 'running' AND NOT j.overlap_allowed))),
  free AS (UPDATE region_running s SET scheduled_for = instant FROM seen
    WHERE s.region_id = seen.region_id AND s.scheduled_for IS NOT DISTINCT FROM seen.scheduled_for
    RETURNING s.region_id),
  added AS (INSERT INTO region_running (region_id, scheduled_for)
    SELECT t.region_id, instant FROM timely t WHERE NOT t.overlap_allowed
    AND t.region_id NOT IN (SELECT f.region_id FROM free f)
    ON CONFLICT (region_id) DO NOTHING RETURNING region_running.region_id),
  slot AS (SELECT f.region_id FROM free f UNION ALL SELECT a.region_id FROM added a),
  -- A slot still held: claimed ahead of its instant while the slot's row runs in this
  -- statement's snapshot, the tick overlaps without a further look (tickd claims it again
  -- at the instant); otherwise tickd_take_running_slot looks again on a fresh snapshot (the
  -- row may have ended meanwhile, or be dead). A call per held slot (60-100 us) made claims
  -- slower exactly when ends lagged, and so made ends lag more.
  held AS (SELECT t.region_id FROM timely t WHERE NOT t.overlap_allowed
    AND t.region_id NOT IN (SELECT s.region_id FROM slot s)
    AND CASE WHEN clock_timestamp() < instant AND EXISTS (SELECT FROM
      region_running s JOIN job_run j ON j.region_id = s.region_id
      AND j.scheduled_for = s.scheduled_for WHERE s.region_id = t.region_id
      AND j.status = 'running' AND NOT j.overlap_allowed) THEN false
    ELSE tickd_take_running_slot(t.region_id, instant) END),
  ins AS (
    INSERT INTO job_run (region_id, scheduled_for, replica_id, status, trigger,
                         cron_schedule, timezone, overlap_allowed)
    SELECT t.region_id, instant, replica, 'running', 'schedule',
           t.cron_schedule, t.timezone, t.overlap_allowed FROM timely t
    WHERE t.overlap_allowed OR t.region_id IN (SELECT s.region_id FROM slot s
                                               UNION ALL SELECT h.region_id FROM held h)
    ON CONFLICT DO NOTHING RETURNING job_run.id, job_run.region_id)
  SELECT w.region_id, ins.id, l.region_id IS NOT NULL,
    -- CASE evaluates lazily: the lookups run only for the (rare) ticks not claimed here.
    CASE WHEN ins.id IS NULL THEN EXISTS (SELECT 1 FROM job_run j
      WHERE j.region_id = w.region_id AND j.scheduled_for = instant) END,
    CASE WHEN ins.id IS NULL THEN EXISTS (SELECT 1 FROM region_index r
      WHERE r.id = w.region_id) ELSE true END,
    clock_timestamp() > w.deadline
  FROM want w LEFT JOIN ins USING (region_id) LEFT JOIN locked l USING (region_id);
END $$;

-- Records many ends in one statement. The regions' running slots are left as they are
-- (tickd.on_running = 'kept' keeps job_run's trigger from giving them back): a slot held by
-- an ended row is free to the next claim, which looks at the row. Freeing it here cost an
-- update and a row lock per tick, taken with SKIP LOCKED besides (a claim whose snapshot
-- predated the slot's claim could hold the slot locked while it waited for this end's
-- uncommitted row in job_run's unique index, a deadlock). run_ids: the runs; instants: their scheduled_for (with the
-- id, the row's key); statuses; errors (NULL elements for none); run_details (JSON objects,
-- added to the row's details); replica: the ending replica; attempts.
-- Fenced: a row changes only while it is still this replica's running row of that attempt
-- (finished_at IS NULL is status = 'running' by job_run_check, and matches no partial index
-- of running rows, whose ended entries the planner would read).
-- One row per run: (run id, written now, written before): "before" is an earlier try of this
-- same write whose outcome came back in doubt but had committed (the outer SELECT reads the
-- snapshot from before the UPDATE), so a retry never reports it as fenced.
-- Notifications (sql/006), in the same statement so that an end and its events commit
-- together: notify_urls: the region's webhook (NULL: none); notify_status: whether it wants
-- the status itself as an event (failed, cancelled, ok); notify_recovered: whether it wants
-- `recovered` (an ok end whose region's previous finished run failed or was abandoned). Only
-- rows with a webhook are looked at, so ends without one cost nothing more.
-- No sequential or bitmap scans: a day partition has no statistics for its first minutes,
-- when "this replica's running rows" looks like a handful; the planner then scanned the whole
-- partition, or a partial index full of ended rows, for every batch (at 10,000 ends a second
-- the ends fell behind and claims found their regions still running). Each row's primary key
-- is probed instead, one partition each.
CREATE FUNCTION tickd_finish_batch(run_ids bigint[], instants timestamptz[], statuses text[],
                                   errors text[], run_details text[], replica text,
                                   attempts integer[], notify_urls text[],
                                   notify_status boolean[], notify_recovered boolean[])
RETURNS TABLE (ended_run bigint, written_now boolean, written_before boolean)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_bitmapscan = off
AS $$
BEGIN
  RETURN QUERY
  WITH slots_kept AS MATERIALIZED (SELECT set_config('tickd.on_running', 'kept', true) AS mode),
  v AS MATERIALIZED (SELECT * FROM unnest(run_ids, instants, statuses, errors, run_details,
    attempts) AS v (id, scheduled_for, status, error, details, attempt)),
  upd AS (UPDATE job_run j SET status = v.status, finished_at = now(), error = v.error,
    details = j.details || v.details::jsonb FROM v, slots_kept
    WHERE j.id = v.id AND j.scheduled_for = v.scheduled_for AND j.replica_id = replica
    AND j.attempt = v.attempt AND j.finished_at IS NULL AND slots_kept.mode = 'kept'
    RETURNING j.id, j.region_id, j.scheduled_for, j.status, j.attempt, j.error),
  n AS (SELECT * FROM unnest(run_ids, notify_urls, notify_status, notify_recovered)
    AS n (id, url, want_status, want_recovered) WHERE url IS NOT NULL),
  ev AS (SELECT u.*, n.url, e.event FROM upd u JOIN n USING (id) CROSS JOIN LATERAL (
    SELECT u.status AS event WHERE n.want_status
    UNION ALL SELECT 'recovered' WHERE n.want_recovered AND u.status = 'ok' AND (
      SELECT p.status FROM job_run p WHERE p.region_id = u.region_id
      AND p.scheduled_for < u.scheduled_for AND p.status <> 'running'
      ORDER BY p.scheduled_for DESC LIMIT 1) IN ('failed', 'abandoned')) e),
  ins AS (INSERT INTO tickd_notification (region_id, scheduled_for, event, url, payload)
    SELECT ev.region_id, ev.scheduled_for, ev.event, ev.url,
      tickd_notification_payload(ev.event, ev.region_id, ev.scheduled_for, ev.status,
                                 ev.attempt, ev.error, ev.id, replica) FROM ev
    ON CONFLICT ON CONSTRAINT tickd_notification_once DO NOTHING)
  SELECT v.id, upd.id IS NOT NULL, coalesce(b.before, false)
  FROM v LEFT JOIN upd USING (id)
  -- Only for the (rare) ends not written now: upd.id IS NULL gates the probe per row
  -- (OFFSET 0 keeps the subquery whole, so the test is a one-time filter before the probe;
  -- pulled up, it became a join filter after it: 2,000 probes of job_run per 2,000 ends).
  LEFT JOIN LATERAL (SELECT j.replica_id = replica AND j.attempt = v.attempt
    AND j.status = v.status AS before FROM job_run j
    WHERE upd.id IS NULL AND j.id = v.id AND j.scheduled_for = v.scheduled_for
    OFFSET 0) b ON true;
END $$;
