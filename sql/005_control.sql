-- 005: control (`tickd region ...`, `tickd runs`, the /v1 API): durable run requests
-- (manual and backfill runs), cancel, and the audit trail of region_index.

-- A run asked for by an operator: one row per run. Any replica picks it up (notified on
-- tickd_control, or by its poll), and starts it by inserting its job_run row in the same
-- transaction as it marks the request started: a request runs once, and is never lost
-- with a replica that dies before starting it (the row stays pending for another). A
-- started run is then an ordinary running job_run row (a dead runner's is taken over).
--   manual:   scheduled_for is the request's time, kept off whole seconds so it never
--             meets an instant of the schedule on the unique (region_id, scheduled_for);
--   backfill: one row per instant of the region's schedule in the asked range. A region's
--             requests start oldest instant first, one at a time.
-- No foreign key to job_run: history is pruned (and partitioned) on its own terms.
CREATE TABLE run_request (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  region_id     bigint NOT NULL REFERENCES region_index (id) ON DELETE CASCADE,
  trigger       text NOT NULL CONSTRAINT run_request_trigger_known
                  CHECK (trigger IN ('manual', 'backfill')),
  scheduled_for timestamptz NOT NULL,
  requested_by  text NOT NULL,
  requested_at  timestamptz NOT NULL DEFAULT now(),
  state         text NOT NULL DEFAULT 'pending' CONSTRAINT run_request_state_known
                  CHECK (state IN ('pending', 'started', 'skipped')),
  run_id        bigint NULL,       -- started: its job_run row
  error         text NULL,         -- skipped: why
  handled_at    timestamptz NULL,  -- when it left pending
  CONSTRAINT run_request_once UNIQUE (region_id, scheduled_for)
);
-- The pending ones, in the order they start (the poll's and the pick's scan).
CREATE INDEX run_request_pending ON run_request (region_id, scheduled_for) WHERE state = 'pending';
CREATE INDEX run_request_handled_at ON run_request (handled_at) WHERE handled_at IS NOT NULL;

CREATE FUNCTION tickd_run_request_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tickd_control', 'request');
  RETURN NULL;
END
$$;

-- Once per statement: a backfill of 10,000 instants is one notification.
CREATE TRIGGER run_request_notify
  AFTER INSERT ON run_request
  FOR EACH STATEMENT EXECUTE FUNCTION tickd_run_request_notify();

-- Cancel: set on a running row by `tickd region cancel` or POST /v1/regions/{code}/cancel,
-- which also notifies tickd_control with 'cancel:<run id>'; the replica running the row
-- stops its handlers and ends it 'cancelled' (its liveness round also looks for these,
-- should the notification be lost).
ALTER TABLE job_run
  ADD COLUMN cancel_requested_at timestamptz NULL,
  ADD COLUMN cancel_requested_by text NULL;

-- Who changed a region, and how: a row per INSERT, UPDATE or DELETE of region_index (by the
-- trigger below, whoever wrote it) and per action (trigger, backfill, cancel: written by
-- tickd). An action that is an UPDATE (pause, resume) is that UPDATE's row, named after the
-- action. No foreign key: the trail outlives a deleted region.
CREATE TABLE region_audit (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  region_id bigint NOT NULL,
  code      text NOT NULL,
  op        text NOT NULL,         -- INSERT, UPDATE, DELETE, or the action's name
  at        timestamptz NOT NULL DEFAULT now(),
  actor     text NOT NULL,         -- `--by`, the API's caller, or the database user
  old       jsonb NULL,            -- UPDATE: the changed columns' old values; DELETE: the row
  new       jsonb NULL             -- UPDATE: their new values; INSERT: the row; actions: what
);
CREATE INDEX region_audit_region ON region_audit (region_id, id);
CREATE INDEX region_audit_at ON region_audit (at);

-- tickd names its own writes with two settings local to their transaction: tickd.actor
-- (who) and tickd.op (which action). Any other writer is named by its database user and
-- application_name.
CREATE FUNCTION tickd_region_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  actor text := nullif(current_setting('tickd.actor', true), '');
  op    text := coalesce(nullif(current_setting('tickd.op', true), ''), TG_OP);
  was   jsonb;
  now_  jsonb;
BEGIN
  IF actor IS NULL THEN
    actor := session_user || coalesce(' (' || nullif(current_setting('application_name', true), '')
                                      || ')', '');
  END IF;
  IF TG_OP = 'INSERT' THEN
    now_ := to_jsonb(NEW) - 'updated_at';
  ELSIF TG_OP = 'DELETE' THEN
    was := to_jsonb(OLD) - 'updated_at';
  ELSE
    -- Only what changed (updated_at always does).
    SELECT jsonb_object_agg(o.key, o.value), jsonb_object_agg(o.key, to_jsonb(NEW) -> o.key)
      INTO was, now_
      FROM jsonb_each(to_jsonb(OLD) - 'updated_at') AS o
      WHERE o.value IS DISTINCT FROM to_jsonb(NEW) -> o.key;
    IF was IS NULL THEN
      RETURN NULL;  -- nothing changed
    END IF;
  END IF;
  INSERT INTO region_audit (region_id, code, op, actor, old, new)
    VALUES (coalesce(NEW.id, OLD.id), coalesce(NEW.code, OLD.code), op, actor, was, now_);
  RETURN NULL;
END
$$;

CREATE TRIGGER region_index_audit
  AFTER INSERT OR UPDATE OR DELETE ON region_index
  FOR EACH ROW EXECUTE FUNCTION tickd_region_audit();

-- /v1/replicas shows each live replica's version (set when it takes its liveness lock).
ALTER TABLE tickd_replica ADD COLUMN version text NULL;
