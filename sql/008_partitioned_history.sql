-- job_run partitioned by day (UTC) of scheduled_for (issue 17, the contract's "History at
-- scale"): retention drops whole partitions instead of deleting rows, so the history costs
-- the same to write, read and prune whatever its size.
--
--   job_run_YYYYMMDD  one per UTC day, created ahead by tickd_job_run_add_partitions() (each
--                     replica at start and every housekeeping pass; safe to race: one lock),
--                     on demand for a day without one (a backfill of a day long gone, a claim
--                     after days without a replica: tickd retries the insert after making
--                     it), and dropped by tickd_job_run_drop_partitions() past RETENTION_DAYS.
--
-- No default partition: with one, PostgreSQL cannot read the partitions in order, and "the
-- newest run of a region" (LIMIT 1 by scheduled_for, once per region in /v1/regions) became a
-- merge of every partition's index: 0.8 ms a region against 0.006 ms without (500 regions,
-- 35 partitions).
--
-- Every rule holds as before: the primary key becomes (id, scheduled_for) (ids stay unique:
-- one identity), the unique (region_id, scheduled_for) is a partitioned index. The rule "one
-- running tick per region, except runs claimed under overlap = 'allow'" cannot be a unique
-- index any more (it has no partition key): region_running holds each region's running
-- slot, taken as the row is inserted and given back (set to NULL) when the row ends, deleted
-- with it. A second running row of a region is refused with a unique_violation naming
-- job_run_one_running_per_region, as the index did; a statement that wants it skipped
-- instead, as ON CONFLICT DO NOTHING skipped it, sets tickd.on_running to 'skip' for its
-- transaction (a manual run's start does), and tickd's claims and ends keep the slots
-- themselves, set-based ('kept').
--
-- The existing rows are copied in this migration's one transaction (claims wait for it; a
-- large history makes it slower, not wrong), with their ids.

ALTER TABLE job_run RENAME TO job_run_unpartitioned;
ALTER TABLE job_run_unpartitioned RENAME CONSTRAINT job_run_pkey TO job_run_unpartitioned_pkey;
ALTER TABLE job_run_unpartitioned
  RENAME CONSTRAINT job_run_region_id_scheduled_for_key TO job_run_unpartitioned_tick_key;
ALTER SEQUENCE job_run_id_seq RENAME TO job_run_unpartitioned_id_seq;
DROP INDEX job_run_one_running_per_region, job_run_running_by_replica, job_run_finished;

CREATE TABLE job_run (
  id                  bigint GENERATED ALWAYS AS IDENTITY,
  region_id           bigint NOT NULL,
  scheduled_for       timestamptz NOT NULL,
  replica_id          text NOT NULL,
  status              text NOT NULL,
  started_at          timestamptz NOT NULL DEFAULT now(),
  finished_at         timestamptz,
  error               text,
  details             jsonb NOT NULL DEFAULT '{}',
  attempt             integer NOT NULL DEFAULT 1 CONSTRAINT job_run_attempt_check CHECK (attempt >= 1),
  tick_sql_at         timestamptz,
  trigger             text NOT NULL DEFAULT 'schedule',
  requested_by        text,
  cron_schedule       text,
  timezone            text,
  overlap_allowed     boolean NOT NULL DEFAULT false,
  cancel_requested_at timestamptz,
  cancel_requested_by text,
  CONSTRAINT job_run_pkey PRIMARY KEY (id, scheduled_for),
  CONSTRAINT job_run_region_id_fkey FOREIGN KEY (region_id) REFERENCES region_index (id)
    ON DELETE CASCADE,
  CONSTRAINT job_run_region_id_scheduled_for_key UNIQUE (region_id, scheduled_for),
  CONSTRAINT job_run_check CHECK ((status = 'running') = (finished_at IS NULL)),
  CONSTRAINT job_run_status_known
    CHECK (status IN ('running', 'ok', 'failed', 'abandoned', 'cancelled')),
  CONSTRAINT job_run_trigger_known CHECK (trigger IN ('schedule', 'manual', 'backfill'))
) PARTITION BY RANGE (scheduled_for);

-- Crash takeover looks up the running ticks of replicas whose heartbeat is stale.
CREATE INDEX job_run_running_by_replica ON job_run (replica_id) WHERE status = 'running';
-- A region's running rows (starting a run request, cancelling), as the unique index on them
-- served before.
CREATE INDEX job_run_running_by_region ON job_run (region_id) WHERE status = 'running';

-- Each region's running slot: the instant of the one running row of the region not claimed
-- under overlap = 'allow', NULL when free. A slot given back stays, set to NULL: an update
-- of a column no index holds is heap-only, so a tick adds no index entry. (A row inserted by
-- each claim and deleted by each end left a dead entry per tick under its region's key until
-- vacuum, for every later claim's conflict check to walk through.) The fill factor leaves
-- each page room for those updates. No foreign key: a key check at every claim costs, and
-- deleting a region's running row (as deleting the region does) deletes its slot.
CREATE TABLE region_running (
  region_id     bigint PRIMARY KEY,
  scheduled_for timestamptz
) WITH (fillfactor = 50);

-- Takes region `region`'s slot for its running row of instant `at`: true when taken (or
-- already this instant's: the unique (region_id, scheduled_for) then decides), false when
-- another running row holds it. A slot whose row no longer runs (a claim whose row was not
-- inserted after all, a row ended by a writer that skipped the triggers) is taken over.
-- Each statement here reads a fresh snapshot, after the slot's holder committed (the insert
-- waits for it), so a running row committed meanwhile is seen. No live slot is locked: only
-- a free one taken, or a dead one taken over. A lock on a live slot, held to the end of a
-- claim that then waits for the end of that slot's row (the end frees the slot), deadlocks.
CREATE FUNCTION tickd_take_running_slot(region bigint, at timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  held timestamptz;
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
    IF EXISTS (SELECT FROM job_run j WHERE j.region_id = region AND j.scheduled_for = held
               AND j.status = 'running' AND NOT j.overlap_allowed) THEN
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

-- The triggers keep the rule for every writer. A statement that keeps the slots itself,
-- set-based (tickd's claims and ends: sql.hpp, TICKD_SLOTS_KEPT), sets tickd.on_running to
-- 'kept' for its transaction and the triggers stay out of its way (a trigger per row cost
-- more than the rest of a claim).
CREATE FUNCTION tickd_job_run_running_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF tickd_take_running_slot(NEW.region_id, NEW.scheduled_for) THEN
    RETURN NEW;
  ELSIF current_setting('tickd.on_running', true) = 'skip' THEN
    RETURN NULL;  -- not inserted: the caller reads that as the overlap it is
  END IF;
  RAISE unique_violation USING CONSTRAINT = 'job_run_one_running_per_region',
    MESSAGE = format('region %s has a running tick: job_run_one_running_per_region allows one',
                     NEW.region_id);
END $$;

CREATE FUNCTION tickd_job_run_running_left() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM region_running WHERE region_id = OLD.region_id AND scheduled_for = OLD.scheduled_for;
  ELSE
    UPDATE region_running SET scheduled_for = NULL
      WHERE region_id = OLD.region_id AND scheduled_for = OLD.scheduled_for;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER job_run_one_running_per_region BEFORE INSERT ON job_run FOR EACH ROW
  WHEN (NEW.status = 'running' AND NOT NEW.overlap_allowed
        AND current_setting('tickd.on_running', true) IS DISTINCT FROM 'kept')
  EXECUTE FUNCTION tickd_job_run_running_inserted();
CREATE TRIGGER job_run_running_ended AFTER UPDATE OF status ON job_run FOR EACH ROW
  WHEN (OLD.status = 'running' AND NEW.status <> 'running' AND NOT OLD.overlap_allowed
        AND current_setting('tickd.on_running', true) IS DISTINCT FROM 'kept')
  EXECUTE FUNCTION tickd_job_run_running_left();
CREATE TRIGGER job_run_running_deleted AFTER DELETE ON job_run FOR EACH ROW
  WHEN (OLD.status = 'running' AND NOT OLD.overlap_allowed)
  EXECUTE FUNCTION tickd_job_run_running_left();

-- The UTC day partitions from `first` to `last` that do not exist yet. Nothing to do (the
-- usual case) costs a catalog look per day; otherwise one creator at a time (a lock on
-- job_run that claims and ends do not conflict with: concurrent creators wait, then find the
-- partitions made).
-- The new table is attached (a lock that lets claims and ends go on), with a CHECK of its
-- range that spares the scan. The caller bounds the wait for locks (lock_timeout): a DDL lock
-- waiting in the queue would hold up the claims behind it. Returns how many were created.
CREATE FUNCTION tickd_job_run_add_partitions(first date, last date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  day date;
  name text;
  lo timestamptz;
  hi timestamptz;
  created integer := 0;
  locked boolean := false;
BEGIN
  FOR day IN SELECT d::date FROM generate_series(first, last, interval '1 day') AS d LOOP
    name := 'job_run_' || to_char(day, 'YYYYMMDD');
    CONTINUE WHEN to_regclass(quote_ident(current_schema()) || '.' || name) IS NOT NULL;
    IF NOT locked THEN
      -- Self-conflicting, and what ATTACH takes anyway; taking it also reads the catalog
      -- changes committed meanwhile (an advisory lock does not: the name looked up above
      -- stayed "missing" in the catalog cache after another creator had made it).
      LOCK TABLE job_run IN SHARE UPDATE EXCLUSIVE MODE;
      locked := true;
      CONTINUE WHEN to_regclass(quote_ident(current_schema()) || '.' || name) IS NOT NULL;
    END IF;
    lo := day::timestamp AT TIME ZONE 'UTC';
    hi := (day + 1)::timestamp AT TIME ZONE 'UTC';
    EXECUTE format('CREATE TABLE %I (LIKE job_run INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (scheduled_for >= %L AND scheduled_for < %L)',
                   name, name || '_range', lo, hi);
    EXECUTE format('ALTER TABLE job_run ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    created := created + 1;
  END LOOP;
  RETURN created;
END $$;

-- Drops the day partitions that ended `retention_days` days ago or more, unless a row in one
-- still runs (it waits for its end or takeover). Dropping a partition locks job_run briefly:
-- the caller bounds the wait (lock_timeout) as above. Returns how many were dropped.
CREATE FUNCTION tickd_job_run_drop_partitions(retention_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  part record;
  dropped integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(1953067376, hashtext(current_schema()));
  FOR part IN
    SELECT c.relname, to_date(substr(c.relname, 9), 'YYYYMMDD') AS day
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'job_run'::regclass AND c.relname ~ '^job_run_[0-9]{8}$'
    ORDER BY 2
  LOOP
    EXIT WHEN (part.day + 1)::timestamp AT TIME ZONE 'UTC'
              > now() - make_interval(days => retention_days);
    CONTINUE WHEN EXISTS (SELECT FROM job_run WHERE status = 'running'
      AND scheduled_for >= part.day::timestamp AT TIME ZONE 'UTC'
      AND scheduled_for < (part.day + 1)::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('DROP TABLE %I', part.relname);
    dropped := dropped + 1;
  END LOOP;
  RETURN dropped;
END $$;

-- The days the existing rows fall on and the next three, then the rows themselves, ids kept.
SELECT tickd_job_run_add_partitions(d, d)
FROM (SELECT DISTINCT (scheduled_for AT TIME ZONE 'UTC')::date AS d FROM job_run_unpartitioned) days;
SELECT tickd_job_run_add_partitions((now() AT TIME ZONE 'UTC')::date - 1,
                                    (now() AT TIME ZONE 'UTC')::date + 3);
INSERT INTO job_run OVERRIDING SYSTEM VALUE
SELECT id, region_id, scheduled_for, replica_id, status, started_at, finished_at, error, details,
       attempt, tick_sql_at, trigger, requested_by, cron_schedule, timezone, overlap_allowed,
       cancel_requested_at, cancel_requested_by
FROM job_run_unpartitioned;
SELECT setval(pg_get_serial_sequence('job_run', 'id'), max(id)) FROM job_run_unpartitioned
HAVING max(id) IS NOT NULL;
DROP TABLE job_run_unpartitioned;
