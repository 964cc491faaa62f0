-- 004: per-region policies (timeout, retries, overlap, start window, jitter, pause) and
-- what a job_run row records about its tick. Every default keeps the behaviour before this
-- migration, so existing rows and writers are unaffected.

-- The policies. NULL timeout_ms / start_window_ms: tickd's defaults (TICK_TIMEOUT_MS,
-- MISFIRE_GRACE_MS). Adding a column with a constant default rewrites nothing, and existing
-- rows take the default, which is inside every range below.
ALTER TABLE region_index
  ADD COLUMN timeout_ms       integer NULL,
  ADD COLUMN max_attempts     integer NOT NULL DEFAULT 1,
  ADD COLUMN retry_backoff_ms integer NOT NULL DEFAULT 10000,
  ADD COLUMN overlap          text    NOT NULL DEFAULT 'skip',
  ADD COLUMN start_window_ms  integer NULL,
  ADD COLUMN jitter_ms        integer NOT NULL DEFAULT 0,
  ADD COLUMN paused_at        timestamptz NULL,  -- set: the region's instants do not run
  ADD COLUMN paused_by        text NULL,         -- who paused it (free text)
  ADD COLUMN paused_reason    text NULL;         -- why (free text)

-- Named, so that a refused write says which rule it broke. tickd checks the same ranges when
-- it loads a row (src/schedule/policy.cpp), for rows written while a rule was not in force:
-- keep the two in step.
ALTER TABLE region_index
  ADD CONSTRAINT region_index_timeout_ms_range
    CHECK (timeout_ms IS NULL OR timeout_ms BETWEEN 1 AND 604800000),          -- 1 ms .. 7 days
  ADD CONSTRAINT region_index_max_attempts_range
    CHECK (max_attempts BETWEEN 1 AND 100),
  ADD CONSTRAINT region_index_retry_backoff_ms_range
    CHECK (retry_backoff_ms BETWEEN 0 AND 3600000),                            -- 0 .. 1 h
  ADD CONSTRAINT region_index_overlap_known
    CHECK (overlap IN ('skip', 'buffer_one', 'allow')),
  ADD CONSTRAINT region_index_start_window_ms_range
    CHECK (start_window_ms IS NULL OR start_window_ms BETWEEN 1 AND 604800000), -- as MISFIRE_GRACE_MS
  ADD CONSTRAINT region_index_jitter_ms_range
    CHECK (jitter_ms BETWEEN 0 AND 86400000);                                  -- 0 .. 1 day

-- What a run records: how it was triggered, by whom (manual and backfill runs), and the
-- expression and zone its instant was computed under (NULL on rows from before this
-- migration: not known). status gains 'cancelled': 001 declared its check inline, so
-- PostgreSQL named it job_run_status_check; it is replaced by a named one. One statement, so
-- the existing rows are checked in a single read of job_run.
ALTER TABLE job_run
  ADD COLUMN trigger       text NOT NULL DEFAULT 'schedule',
  ADD COLUMN requested_by  text NULL,
  ADD COLUMN cron_schedule text NULL,
  ADD COLUMN timezone      text NULL,
  -- Copied from the region's overlap = 'allow' when the tick is claimed: such a run may
  -- run alongside others of its region (see job_run_one_running_per_region below).
  ADD COLUMN overlap_allowed boolean NOT NULL DEFAULT false,
  ADD CONSTRAINT job_run_trigger_known CHECK (trigger IN ('schedule', 'manual', 'backfill')),
  DROP CONSTRAINT job_run_status_check,
  ADD CONSTRAINT job_run_status_known
    CHECK (status IN ('running', 'ok', 'failed', 'abandoned', 'cancelled'));

-- One running tick per region, now except for runs claimed under overlap = 'allow'. Such a
-- run has overlap_allowed = true and stays out of this index, so any number of them may run
-- side by side; every other run is in it, so a region whose overlap is skip or buffer_one
-- still has at most one running row, as before: the database refuses the second. The flag
-- lives on the run (an index cannot look at region_index) and is set by the claim from the
-- region's row as the claim reads it. A region switched from 'allow' to another value may
-- still have its earlier runs going: from then on it gets at most one more running row
-- beside them, and only one at a time.
-- The index is rebuilt from one more read of job_run; claims wait for the migration's
-- transaction meanwhile (a large history makes it slower, not wrong).
DROP INDEX job_run_one_running_per_region;
CREATE UNIQUE INDEX job_run_one_running_per_region ON job_run (region_id)
  WHERE status = 'running' AND NOT overlap_allowed;
