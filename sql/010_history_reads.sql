-- The runs pages (GET /v1/runs, GET /v1/regions/{code}/runs, `tickd runs`) cost the same
-- whatever the size of the history (issue 17, flat with history).
--
-- Before this migration, on 34 day partitions (sql/008) holding 2,000,000 rows, EXPLAIN
-- (ANALYZE, BUFFERS) of the statements tickd sent showed three costs that grew with it:
--   - all regions' runs, newest first by id: no index orders job_run by id across its day
--     partitions, so a Merge Append read the newest entry of every partition's primary key
--     and its row (3 buffers each) to return 50 rows of one partition;
--   - each page was planned at every call, over every partition: 1.7 to 6 ms of planning
--     for about 1 ms of execution, more with history than without (the estimates of
--     `id < $1` read the ends of each partition's index);
--   - a page after a given run (`before`) first looked that run up in every partition.
--
-- Now the pages are in the order of the partitions, newest instant first (scheduled_for,
-- then id: the runs of one instant share its value), which job_run_by_instant serves for all
-- regions and the unique (region_id, scheduled_for) for one region. PostgreSQL then reads
-- the partitions one after the other, newest first (an ordered Append: there is no default
-- partition), and stops at the page's last row: the older partitions are never read. A
-- page starts below the last run of the previous one, given as its (scheduled_for, id)
-- (the API's cursor), which also prunes the partitions above it; given as a run id alone
-- (`before`), that run is looked up by id first (in every partition's primary key).
--
-- The page's statement is planned once per session (PL/pgSQL keeps its plan, and the plan is
-- generic: plan_cache_mode), so no call pays for planning the partitions; the generic plan
-- prunes the partitions above the cursor and below `since` when it starts. (Named prepared
-- statements would do the same, but not through a transaction pooler: sql/009.)
--
-- The index costs every claim one more index entry (16 bytes of key per row; 1.4 more WAL
-- records and 105 more WAL bytes per claim, docs/BENCHMARKS.md; the primary key (id,
-- scheduled_for) cannot serve this order: it leads with id). Built here in the
-- migration's transaction, partition by partition, while claims of the same partitions wait:
-- seconds per million rows of history.

CREATE INDEX job_run_by_instant ON job_run (scheduled_for, id);

-- A page of runs, newest first: those of region `of_region` (NULL: every region) with status
-- `of_status` (NULL: any) scheduled at or after `since` (NULL: any time), below the run
-- (`below_at`, `below_id`) in the order (scheduled_for, id), descending (NULL: from the
-- newest); or, with `below_run` (and `below_at` NULL), below the run of that id (none when
-- no run has it). At most `page` rows (1-1000), in that order.
--
-- Read in two windows of instants: from the day before the page's start (the cursor's, or
-- today's) onwards, then, when that did not fill the page, everything older. A plan starts
-- a scan for each partition it has not pruned, read or not (about 8 us each); the first
-- window, which holds the page in a busy history, prunes all but a few days, whatever the
-- retention.
--
-- The plan is made once per session, possibly while a partition looked empty (a day made
-- ahead, not analyzed yet): a sort of a whole partition read in full looks cheapest then, and
-- would stay the session's plan after the day filled. So only the ordered index reads are
-- allowed (no sequential or bitmap scan, no sort). The inner LIMIT 1000 is a constant so
-- that the plan, made without the parameters' values, is made for a page and not for a
-- tenth of the history (the planner's guess for a LIMIT it cannot see); the outer LIMIT
-- stops the reading at the rows still wanted.
CREATE FUNCTION tickd_runs_page(of_region bigint, of_status text, since timestamptz,
                                below_at timestamptz, below_id bigint, below_run bigint,
                                page integer)
RETURNS SETOF job_run
LANGUAGE plpgsql STABLE ROWS 50
SET plan_cache_mode = force_generic_plan SET enable_seqscan = off SET enable_bitmapscan = off
SET enable_sort = off AS $$
DECLARE
  top timestamptz;
  top_id bigint;
  oldest timestamptz := coalesce(since, '-infinity');
  recent timestamptz;
  lo timestamptz;
  hi timestamptz;
  got bigint := 0;
  n bigint;
BEGIN
  IF below_run IS NOT NULL AND below_at IS NULL THEN
    SELECT j.scheduled_for, j.id INTO below_at, below_id FROM job_run j WHERE j.id = below_run;
    IF NOT FOUND THEN
      RETURN;
    END IF;
  END IF;
  top := coalesce(below_at, 'infinity');
  top_id := coalesce(below_id, 9223372036854775807);
  recent := date_trunc('day', least(top, now()), 'UTC') - interval '1 day';
  FOR w IN 1..2 LOOP
    IF w = 1 THEN
      lo := greatest(recent, oldest);
      hi := 'infinity';
    ELSE
      EXIT WHEN oldest >= recent;
      lo := oldest;
      hi := recent;
    END IF;
    IF of_region IS NULL THEN
      RETURN QUERY SELECT * FROM (
        SELECT j.* FROM job_run j
        WHERE j.scheduled_for <= top AND (j.scheduled_for, j.id) < (top, top_id)
          AND j.scheduled_for >= lo AND j.scheduled_for < hi
          AND (of_status IS NULL OR j.status = of_status)
        ORDER BY j.scheduled_for DESC, j.id DESC LIMIT 1000) p
      LIMIT page - got;
    ELSE
      -- One instant per region (the unique key): scheduled_for alone orders its runs.
      RETURN QUERY SELECT * FROM (
        SELECT j.* FROM job_run j
        WHERE j.region_id = of_region
          AND j.scheduled_for <= top AND (j.scheduled_for, j.id) < (top, top_id)
          AND j.scheduled_for >= lo AND j.scheduled_for < hi
          AND (of_status IS NULL OR j.status = of_status)
        ORDER BY j.scheduled_for DESC LIMIT 1000) p
      LIMIT page - got;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    got := got + n;
    EXIT WHEN got >= page;
  END LOOP;
END $$;
