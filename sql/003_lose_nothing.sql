-- 003: losing nothing when a replica crashes or the database restarts or fails over.

-- Attempts of a tick: 1 at the claim; a replica that takes over a dead replica's running
-- tick and runs it again adds one. Every end write is fenced by (replica_id, attempt), so
-- the writer of an earlier attempt changes nothing.
ALTER TABLE job_run ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1);

-- When the tick's tick_sql committed: set in the tick_sql's own transaction, so a crash
-- leaves both or neither, and a re-run of the tick does not run its SQL again.
ALTER TABLE job_run ADD COLUMN tick_sql_at timestamptz NULL;

-- When the replica took its liveness lock (a session advisory lock on its direct
-- connection), and on which timeline of the server: a free lock means its process is
-- gone, unless the server restarted (pg_postmaster_start_time) or a standby was promoted
-- (a new timeline) since, which frees every lock.
ALTER TABLE tickd_replica ADD COLUMN locked_at timestamptz NULL;
ALTER TABLE tickd_replica ADD COLUMN locked_timeline integer NULL;
