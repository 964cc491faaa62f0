-- 006: the `http` and `command` handlers and notifications (spec: "Handlers: `http` and
-- `command`", "Notifications"). Every new column is NULL by default: existing rows and
-- writers are unaffected.

ALTER TABLE region_index
  -- `http`: {"url", "method", "headers", "body", "timeout_ms", "conditional",
  -- "follow_redirects", "ok_statuses"}; checked in full by tickd (an invalid one makes the
  -- region invalid, saying why); the database only refuses what is not an object.
  ADD COLUMN http jsonb NULL
    CONSTRAINT region_index_http_object CHECK (http IS NULL OR jsonb_typeof(http) = 'object'),
  -- `command`: argv, no shell; argv[0] names an executable directly inside COMMAND_DIR.
  ADD COLUMN command text[] NULL
    CONSTRAINT region_index_command_argv
    CHECK (command IS NULL OR (cardinality(command) >= 1 AND array_position(command, NULL) IS NULL)),
  -- Where events of this region are POSTed (NULL: NOTIFY_URL) and which.
  ADD COLUMN notify_url text NULL,
  ADD COLUMN notify_on text[] NULL
    CONSTRAINT region_index_notify_on_known
    CHECK (notify_on IS NULL OR notify_on <@
           ARRAY['failed', 'abandoned', 'missed', 'recovered', 'cancelled', 'ok']::text[]),
  -- healthchecks.io convention: <ping_url>/start, <ping_url>, <ping_url>/fail.
  ADD COLUMN ping_url text NULL;

-- The `http` handler's conditional-request state: the last validators a region's URL
-- answered with, sent back as If-None-Match / If-Modified-Since.
CREATE TABLE http_state (
  region_id     bigint PRIMARY KEY REFERENCES region_index (id) ON DELETE CASCADE,
  url           text NOT NULL,   -- the validators belong to this URL (a new URL starts afresh)
  etag          text NULL,
  last_modified text NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The notification outbox: one row per (region, instant, event), whichever replicas saw
-- the event (they insert ON CONFLICT DO NOTHING). Any replica delivers: it leases a batch
-- (FOR UPDATE SKIP LOCKED), POSTs each, and records the outcome; a failed delivery is tried
-- again with backoff until 24 h after the event (at least once).
CREATE TABLE tickd_notification (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  region_id       bigint NOT NULL REFERENCES region_index (id) ON DELETE CASCADE,
  scheduled_for   timestamptz NOT NULL,
  event           text NOT NULL CONSTRAINT tickd_notification_event_known
                    CHECK (event IN ('failed', 'abandoned', 'missed', 'recovered', 'cancelled', 'ok')),
  url             text NOT NULL,
  payload         jsonb NOT NULL,      -- the body POSTed, fixed when the event happened
  created_at      timestamptz NOT NULL DEFAULT now(),
  state           text NOT NULL DEFAULT 'pending' CONSTRAINT tickd_notification_state_known
                    CHECK (state IN ('pending', 'delivered', 'expired')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  leased_by       text NULL,
  leased_until    timestamptz NULL,
  last_error      text NULL,
  delivered_at    timestamptz NULL,
  CONSTRAINT tickd_notification_once UNIQUE (region_id, scheduled_for, event)
);
-- The deliverers' scan: pending rows by when they are due.
CREATE INDEX tickd_notification_due ON tickd_notification (next_attempt_at)
  WHERE state = 'pending';
-- Retention: rows that left pending, by age.
CREATE INDEX tickd_notification_created_at ON tickd_notification (created_at)
  WHERE state <> 'pending';

CREATE FUNCTION tickd_notification_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tickd_control', 'notification');
  RETURN NULL;
END
$$;

CREATE TRIGGER tickd_notification_notify AFTER INSERT ON tickd_notification
  FOR EACH STATEMENT EXECUTE FUNCTION tickd_notification_notify();

-- Whether a region whose notify_on is `notify_on` wants `event` (NULL: the default events).
-- Kept in step with wants_event() in include/tickd/notify/rules.hpp.
CREATE FUNCTION tickd_wants_event(notify_on text[], event text) RETURNS boolean
  LANGUAGE sql IMMUTABLE AS $$
  SELECT event = ANY (coalesce(notify_on, ARRAY['failed', 'abandoned', 'missed', 'recovered']))
$$;

-- The body POSTed for an event, fixed when the event happens: every path that adds an event
-- (a tick's end, an abandon, a miss, a shutdown) builds it here.
CREATE FUNCTION tickd_notification_payload(event text, region_id bigint, scheduled_for timestamptz,
                                           status text, attempt integer, error text,
                                           run_id bigint, replica_id text) RETURNS jsonb
  LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'event', event,
    'region', jsonb_build_object('id', region_id,
                                 'code', (SELECT code FROM region_index WHERE id = region_id)),
    'scheduled_for', to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.USZ'),
    'status', status, 'attempt', attempt, 'error', error, 'run_id', run_id,
    'replica_id', replica_id,
    'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.USZ'))
$$;
