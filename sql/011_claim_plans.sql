-- Claims whose plans hold whatever the statistics of the day partitions say (issue 17).
--
-- A claim's plan is made once per session (sql/009) and kept while the days fill. It looked
-- up the row holding a region's running slot by (region_id, scheduled_for), and the planner
-- had three ways to find it: the unique key (one probe), job_run_by_instant (every run of that
-- instant: 10,000 at 10,000 regions a second) and the partial indexes of running rows (every
-- entry of a row ever claimed, until vacuum). On a day that looked empty when the plan was
-- made it could not tell them apart, and on a day analyzed while empty (an operator's ANALYZE
-- of job_run, vacuumdb --analyze-only, the analyze after pg_upgrade) it chose a sequential
-- scan of the day. Measured here, 500-row claims and their ends as the day filled: 2 s a
-- claim at 20,000 rows by the sequential scan, and 45 -> 210 ms over 100,000 rows by the
-- index of instants, until autovacuum analyzed the day and the plans were made again.
--
-- Now each slot also holds the id of its row (run_id; the claim draws the ids of its rows
-- before inserting them), and the row is looked up by its key (id, scheduled_for): every
-- index that can serve that lookup (the primary key, job_run_by_instant) finds the one row.
-- A running row is asked for as finished_at IS NULL (the same rows, by job_run_check), which
-- no partial index on status matches, and the plans allow no sequential or bitmap scan (as
-- tickd_finish_batch's). A slot whose run_id names no row (its claim's row conflicted, or a
-- slot from before this migration without a row) is free, as a slot whose row ended.
--
-- Other plans kept per session (an end's, a runs page's) still depend on what the days'
-- statistics say: tickd_job_run_forget_empty_statistics below keeps a day from looking empty
-- once it has rows.

ALTER TABLE region_running ADD COLUMN run_id bigint;
UPDATE region_running s SET run_id = j.id FROM job_run j
  WHERE j.region_id = s.region_id AND j.scheduled_for = s.scheduled_for;

DROP FUNCTION tickd_take_running_slot(bigint, timestamptz);

-- Takes region `region`'s slot for its running row `run` of instant `at` (sql/008, sql/009:
-- the same rules), recording the row's id with the instant.
CREATE FUNCTION tickd_take_running_slot(region bigint, at timestamptz, run bigint)
RETURNS boolean LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE
  held timestamptz;
  held_run bigint;
  runs boolean;
BEGIN
  FOR i IN 1..5 LOOP
    UPDATE region_running r SET scheduled_for = at, run_id = run
      WHERE r.region_id = region AND r.scheduled_for IS NULL;
    IF FOUND THEN
      RETURN true;
    END IF;
    INSERT INTO region_running (region_id, scheduled_for, run_id) VALUES (region, at, run)
      ON CONFLICT (region_id) DO NOTHING;
    IF FOUND THEN
      RETURN true;
    END IF;
    SELECT r.scheduled_for, r.run_id INTO held, held_run
      FROM region_running r WHERE r.region_id = region;
    CONTINUE WHEN NOT FOUND OR held IS NULL;  -- given back meanwhile: try again
    IF held = at THEN
      RETURN true;
    END IF;
    -- An end in flight is waited for, briefly: a transaction holding the row for longer
    -- (a replica stopped between its tick_sql's mark and its COMMIT) would otherwise hold up
    -- this whole claim, every region of the instant, for as long as that replica stalls.
    -- Seen in the chaos suite (SIGSTOP of 4 s): the other replicas' ticks of the instant
    -- started up to 2.3 s past their start deadline.
    BEGIN
      PERFORM set_config('lock_timeout', '250ms', true);  -- undone with the subtransaction
      PERFORM FROM job_run j WHERE j.id = held_run AND j.scheduled_for = held
        AND j.finished_at IS NULL AND NOT j.overlap_allowed FOR SHARE OF j;
      runs := FOUND;
      RAISE EXCEPTION USING ERRCODE = 'TKLCK';  -- rolls the lock back, and only it
    EXCEPTION
      WHEN SQLSTATE 'TKLCK' THEN
        NULL;  -- runs keeps its value: variables are not rolled back
      WHEN lock_not_available THEN
        runs := true;  -- held that long: as good as running (the tick overlaps)
    END;
    IF runs THEN
      RETURN false;
    END IF;
    UPDATE region_running r SET scheduled_for = at, run_id = run
      WHERE r.region_id = region AND r.scheduled_for = held
      AND r.run_id IS NOT DISTINCT FROM held_run;
    IF FOUND THEN
      RETURN true;
    END IF;  -- taken or given back meanwhile: look again
  END LOOP;
  RAISE EXCEPTION 'job_run: the running slot of region % kept changing', region;
END $$;

-- job_run's triggers (sql/008), with the row's id in its slot. (An identity column's value
-- is set before BEFORE ROW triggers run.)
CREATE OR REPLACE FUNCTION tickd_job_run_running_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF tickd_take_running_slot(NEW.region_id, NEW.scheduled_for, NEW.id) THEN
    RETURN NEW;
  ELSIF current_setting('tickd.on_running', true) = 'skip' THEN
    RETURN NULL;  -- not inserted: the caller reads that as the overlap it is
  END IF;
  RAISE unique_violation USING CONSTRAINT = 'job_run_one_running_per_region',
    MESSAGE = format('region %s has a running tick: job_run_one_running_per_region allows one',
                     NEW.region_id);
END $$;

CREATE OR REPLACE FUNCTION tickd_job_run_running_left() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM region_running WHERE region_id = OLD.region_id AND scheduled_for = OLD.scheduled_for;
  ELSE
    UPDATE region_running SET scheduled_for = NULL, run_id = NULL
      WHERE region_id = OLD.region_id AND scheduled_for = OLD.scheduled_for;
  END IF;
  RETURN NULL;
END $$;

-- sql/009's claim, its slots holding their rows' ids.
CREATE OR REPLACE FUNCTION tickd_claim_batch(ids bigint[], lock_keys bigint[], instant timestamptz,
                                  replica text, deadlines timestamptz[], crons text[],
                                  zones text[])
RETURNS TABLE (tick_region bigint, run_id bigint, got_lock boolean, existed boolean,
               region_exists boolean, expired boolean)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_bitmapscan = off
AS $$
BEGIN
  RETURN QUERY
  WITH slots_kept AS MATERIALIZED (SELECT set_config('tickd.on_running', 'kept', true) AS mode),
  want AS (SELECT * FROM unnest(ids, lock_keys, deadlines, crons, zones)
             AS w (region_id, lock_key, deadline, cron_schedule, timezone)),
  locked AS (SELECT w.region_id, r.overlap = 'allow' AS overlap_allowed
             FROM want w JOIN region_index r ON r.id = w.region_id
             JOIN slots_kept ON slots_kept.mode = 'kept'
             WHERE pg_try_advisory_xact_lock(w.lock_key)),
  -- Each tick's run id is drawn here, before its row is inserted, for its slot to hold.
  timely AS MATERIALIZED (SELECT l.*, w.cron_schedule, w.timezone,
    nextval('job_run_id_seq') AS run_id
    FROM locked l JOIN want w USING (region_id) WHERE clock_timestamp() <= w.deadline),
  -- Slots free in this statement's snapshot: NULL, or held by a row that no longer runs
  -- (tickd's ends leave the slot as it is: an ended row stays ended, so the next claim can
  -- tell, and the end spares an update and a row lock per tick). Each is taken only if it
  -- still holds what was seen (compared again on the newest version of the slot, should a
  -- concurrent claim have taken it meanwhile); otherwise it is looked at again below, on a
  -- fresh snapshot. No live slot is locked (sql/008: tickd_take_running_slot says why).
  seen AS MATERIALIZED (SELECT s.region_id, s.scheduled_for, s.run_id AS held_run, t.run_id
    FROM region_running s JOIN timely t ON s.region_id = t.region_id
    WHERE NOT t.overlap_allowed AND (s.scheduled_for IS NULL OR NOT EXISTS (SELECT FROM job_run j
      WHERE j.id = s.run_id AND j.scheduled_for = s.scheduled_for
      AND j.finished_at IS NULL AND NOT j.overlap_allowed))),
  free AS (UPDATE region_running s SET scheduled_for = instant, run_id = seen.run_id FROM seen
    WHERE s.region_id = seen.region_id AND s.scheduled_for IS NOT DISTINCT FROM seen.scheduled_for
    AND s.run_id IS NOT DISTINCT FROM seen.held_run
    RETURNING s.region_id),
  added AS (INSERT INTO region_running (region_id, scheduled_for, run_id)
    SELECT t.region_id, instant, t.run_id FROM timely t WHERE NOT t.overlap_allowed
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
      region_running s JOIN job_run j ON j.id = s.run_id
      AND j.scheduled_for = s.scheduled_for WHERE s.region_id = t.region_id
      AND j.finished_at IS NULL AND NOT j.overlap_allowed) THEN false
    ELSE tickd_take_running_slot(t.region_id, instant, t.run_id) END),
  tried AS MATERIALIZED (SELECT t.* FROM timely t
    WHERE t.overlap_allowed OR t.region_id IN (SELECT s.region_id FROM slot s
                                               UNION ALL SELECT h.region_id FROM held h)),
  ins AS (
    INSERT INTO job_run (id, region_id, scheduled_for, replica_id, status, trigger,
                         cron_schedule, timezone, overlap_allowed) OVERRIDING SYSTEM VALUE
    SELECT t.run_id, t.region_id, instant, replica, 'running', 'schedule',
           t.cron_schedule, t.timezone, t.overlap_allowed FROM tried t
    ON CONFLICT DO NOTHING RETURNING job_run.id, job_run.region_id)
  -- "existed": a tick tried and not inserted met its row, inserted by another claim (the
  -- only conflict a fresh id leaves). Not looked up: a lookup by (region_id, scheduled_for)
  -- is the kind this migration removes from the plans.
  SELECT w.region_id, ins.id, l.region_id IS NOT NULL,
    CASE WHEN ins.id IS NULL THEN tr.region_id IS NOT NULL END,
    -- CASE evaluates lazily: the lookup runs only for the (rare) ticks not claimed here.
    CASE WHEN ins.id IS NULL THEN EXISTS (SELECT 1 FROM region_index r
      WHERE r.id = w.region_id) ELSE true END,
    clock_timestamp() > w.deadline
  FROM want w LEFT JOIN ins USING (region_id) LEFT JOIN locked l USING (region_id)
  LEFT JOIN tried tr USING (region_id);
END $$;

-- Statistics of empty days, forgotten. A day analyzed or vacuumed while empty (reltuples 0:
-- an operator's ANALYZE or VACUUM of job_run, vacuumdb, the analyze after pg_upgrade) looks
-- empty to every plan made while it is so, and such a plan is kept for the session (sql/009):
-- once the day fills, an end's plan read the whole day through an index for each batch (a
-- hash join of all its rows against the batch), where a day never analyzed (reltuples -1:
-- the planner assumes ten pages) gives a probe per run. Autovacuum mends a day that fills,
-- but only minutes into it. So tickd calls this every 15 s (src/handlers/housekeeping.cpp)
-- for the days from `first` to `last`: a day still empty is truncated, which forgets its
-- statistics (and makes the plans be made again); a day with rows is analyzed. The
-- truncation takes the day's lock (the caller bounds the wait: lock_timeout) and looks at
-- the day again under it, so a row written meanwhile is never lost. Returns the days mended.
CREATE FUNCTION tickd_job_run_forget_empty_statistics(first date, last date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  part regclass;
  has_rows boolean;
  mended integer := 0;
BEGIN
  FOR part IN
    SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'job_run'::regclass AND c.reltuples >= 0 AND c.relpages = 0
      AND c.relname ~ '^job_run_[0-9]{8}$'
      AND to_date(substr(c.relname, 9), 'YYYYMMDD') BETWEEN first AND last
  LOOP
    EXECUTE format('SELECT EXISTS (SELECT FROM %s)', part) INTO has_rows;
    IF NOT has_rows THEN
      EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', part);
      EXECUTE format('SELECT EXISTS (SELECT FROM %s)', part) INTO has_rows;
    END IF;
    IF has_rows THEN
      EXECUTE format('ANALYZE %s', part);
    ELSE
      EXECUTE format('TRUNCATE %s', part);
    END IF;
    mended := mended + 1;
  END LOOP;
  RETURN mended;
END $$;
