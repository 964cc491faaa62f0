-- job_run partitioned by day (UTC) of scheduled_for (issue 17, the contract's "History at
-- scale"): retention drops whole partitions instead of deleting rows, so the history costs
-- the same to write, read and prune whatever its size.
--
--   job_run_YYYYMMDD  one per UTC day, created ahead by tickd_job_run_add_partitions() (each
--                     replica at start and every housekeeping pass; safe to race: one lock)
--                     and dropped by tickd_job_run_drop_partitions() past RETENTION_DAYS;
--   job_run_default   whatever falls on a day with no partition (a backfill of an old day):
--                     small, pruned by short batched deletes. A day that has rows here gets
--                     no partition of its own later (its rows stay in the default).
--
-- Every rule holds as before: the primary key becomes (id, scheduled_for) (ids stay unique:
-- one identity), the unique (region_id, scheduled_for) is a partitioned index. The rule "one
-- running tick per region, except runs claimed under overlap = 'allow'" cannot be a unique
-- index any more (it has no partition key): region_running holds each region's running
-- slot, taken by a trigger as the row is inserted and given back when the row ends or is
-- deleted. A second running row of a region is refused with a unique_violation naming
-- job_run_one_running_per_region, as the index did; a statement that wants it skipped
-- instead, as ON CONFLICT DO NOTHING skipped it, sets tickd.on_running to 'skip' for its
-- transaction (the claim statements do: sql.hpp, TICKD_SKIP_RUNNING).
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

CREATE TABLE job_run_default PARTITION OF job_run DEFAULT;

-- Each region's running slot: the one running row of the region not claimed under overlap =
-- 'allow', by its instant. Written only by the triggers below.
CREATE TABLE region_running (
  region_id     bigint PRIMARY KEY REFERENCES region_index (id) ON DELETE CASCADE,
  scheduled_for timestamptz NOT NULL
);

-- Before a running row (not overlap-allowed) is inserted: takes its region's slot, or
-- refuses (or skips) the row when another running row holds it. A slot whose row no longer runs (its row was
-- removed with a dropped partition, say) is taken over. Each statement here reads a fresh
-- snapshot, after the slot's holder committed (the slot insert waits for it).
CREATE FUNCTION tickd_take_running_slot() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  held timestamptz;
BEGIN
  -- A row for this very tick exists: the unique (region_id, scheduled_for) decides (an error,
  -- or nothing under ON CONFLICT DO NOTHING), and the slot stays its holder's.
  IF EXISTS (SELECT FROM job_run WHERE region_id = NEW.region_id
             AND scheduled_for = NEW.scheduled_for) THEN
    RETURN NEW;
  END IF;
  FOR i IN 1..3 LOOP
    INSERT INTO region_running (region_id, scheduled_for)
      VALUES (NEW.region_id, NEW.scheduled_for) ON CONFLICT (region_id) DO NOTHING;
    IF FOUND THEN
      RETURN NEW;
    END IF;
    SELECT scheduled_for INTO held FROM region_running WHERE region_id = NEW.region_id FOR UPDATE;
    CONTINUE WHEN NOT FOUND;  -- given back meanwhile: try again
    IF EXISTS (SELECT FROM job_run WHERE region_id = NEW.region_id AND scheduled_for = held
               AND status = 'running' AND NOT overlap_allowed) THEN
      IF current_setting('tickd.on_running', true) = 'skip' THEN
        RETURN NULL;  -- not inserted: the claim reads that as the overlap it is
      END IF;
      RAISE unique_violation USING CONSTRAINT = 'job_run_one_running_per_region',
        MESSAGE = format('region %s has a running tick (scheduled for %s): '
                         'job_run_one_running_per_region allows one', NEW.region_id, held);
    END IF;
    UPDATE region_running SET scheduled_for = NEW.scheduled_for WHERE region_id = NEW.region_id;
    RETURN NEW;
  END LOOP;
  RAISE EXCEPTION 'job_run: the running slot of region % kept changing', NEW.region_id;
END $$;

CREATE FUNCTION tickd_give_back_running_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM region_running WHERE region_id = OLD.region_id AND scheduled_for = OLD.scheduled_for;
  RETURN NULL;
END $$;

CREATE TRIGGER job_run_one_running_per_region BEFORE INSERT ON job_run FOR EACH ROW
  WHEN (NEW.status = 'running' AND NOT NEW.overlap_allowed)
  EXECUTE FUNCTION tickd_take_running_slot();
CREATE TRIGGER job_run_running_ended AFTER UPDATE OF status ON job_run FOR EACH ROW
  WHEN (OLD.status = 'running' AND NEW.status <> 'running' AND NOT OLD.overlap_allowed)
  EXECUTE FUNCTION tickd_give_back_running_slot();
CREATE TRIGGER job_run_running_deleted AFTER DELETE ON job_run FOR EACH ROW
  WHEN (OLD.status = 'running' AND NOT OLD.overlap_allowed)
  EXECUTE FUNCTION tickd_give_back_running_slot();

-- The UTC day partitions from `first` to `last` that do not exist yet, unless the default
-- partition holds rows of that day. One creator at a time per schema (a transaction-scoped
-- advisory lock: concurrent replicas wait, then find the partitions made). The new table is
-- attached (a lock that lets claims and ends go on), with a CHECK of its range that spares
-- the scan. The caller bounds the wait for locks (lock_timeout): a DDL lock waiting in the
-- queue would hold up the claims behind it.
-- Returns how many were created.
CREATE FUNCTION tickd_job_run_add_partitions(first date, last date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  day date;
  name text;
  lo timestamptz;
  hi timestamptz;
  created integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(1953067376, hashtext(current_schema()));
  FOR day IN SELECT d::date FROM generate_series(first, last, interval '1 day') AS d LOOP
    name := 'job_run_' || to_char(day, 'YYYYMMDD');
    CONTINUE WHEN to_regclass(quote_ident(current_schema()) || '.' || name) IS NOT NULL;
    lo := day::timestamp AT TIME ZONE 'UTC';
    hi := (day + 1)::timestamp AT TIME ZONE 'UTC';
    CONTINUE WHEN EXISTS (SELECT FROM job_run_default WHERE scheduled_for >= lo AND scheduled_for < hi);
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

-- The days the existing rows fall on (the last year's; older ones go to the default
-- partition) and the next three, then the rows themselves, ids kept.
SELECT tickd_job_run_add_partitions(d, d)
FROM (SELECT DISTINCT (scheduled_for AT TIME ZONE 'UTC')::date AS d FROM job_run_unpartitioned
      WHERE scheduled_for >= now() - interval '366 days') days;
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
