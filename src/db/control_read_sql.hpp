#pragma once
// Internal to src/db: the statements behind ControlStore's views (control_reads.cpp), as
// named constants with their parameters; in a header so that tests/db can EXPLAIN them.
// Each says which index serves it: they must stay cheap at 100,000 regions and millions of
// job_run rows (no scan of job_run).

#include "control_internal.hpp"

namespace tickd::sql {

// The columns of a RegionView before its last run, in the order read_region reads them;
// the region is `r`.
#define TICKD_REGION_VIEW_COLUMNS                                                    \
  "r.id, r.code, r.name, r.cron_schedule, r.timezone, r.active, r.handlers, "        \
  "r.tick_sql, (extract(epoch FROM r.updated_at) * 1000000)::bigint, r.timeout_ms, " \
  "r.max_attempts, r.retry_backoff_ms, r.overlap, r.start_window_ms, r.jitter_ms, "  \
  "(extract(epoch FROM r.paused_at) * 1000000)::bigint, r.paused_by, r.paused_reason "

// Regions with their newest run, the newest ended run when that one is still running, and
// their pending requests. The newest run is one step backwards on the unique (region_id,
// scheduled_for) per region (LATERAL ... LIMIT 1), never a scan of the region's history; the
// ended run is looked for only behind a running one (a one-time filter: no probe otherwise),
// a step or two further back. The pending counts are one pass over the partial index
// run_request_pending, grouped once and joined to the regions. Followed by the WHERE and
// ORDER BY of the statements below.
#define TICKD_REGIONS_FROM \
  "SELECT " TICKD_REGION_VIEW_COLUMNS ", coalesce(q.pending, 0), " TICKD_RUN_COLUMNS   \
  ", e.status, " TICKD_US("e.scheduled_for") ", " TICKD_US("e.finished_at") ", e.error " \
  "FROM region_index r "                                                               \
  "LEFT JOIN (SELECT region_id, count(*) AS pending FROM run_request "                 \
  "           WHERE state = 'pending' GROUP BY region_id) q ON q.region_id = r.id "    \
  "LEFT JOIN LATERAL (SELECT * FROM job_run j0 WHERE j0.region_id = r.id "             \
  "                   ORDER BY j0.scheduled_for DESC LIMIT 1) j ON true "              \
  "LEFT JOIN LATERAL (SELECT * FROM job_run e0 WHERE j.status = 'running' "            \
  "                   AND e0.region_id = r.id AND e0.status <> 'running' "             \
  "                   ORDER BY e0.scheduled_for DESC LIMIT 1) e ON true "

// Every region, whatever its state, by code (region_index's unique index on code, or a sort
// of the regions: no job_run involved).
inline constexpr const char* kControlRegions = TICKD_REGIONS_FROM "ORDER BY r.code";

// A timestamptz as Unix microseconds through float8 seconds: the same value as TICKD_US (a
// double holds a microsecond count exactly for ±142 years around 1970, and the rounding
// takes back the division's last bit), without numeric arithmetic, which cost a third of
// the scan of region_index when done for three columns of 10,000 rows.
#define TICKD_US_FLOAT(col) "round(date_part('epoch', " col ") * 1000000)::bigint"

// What orders a long list (ControlStore::pick_regions's keys): each region's state columns,
// its newest run's instant and status, and, behind a running one, the newest ended run's
// status; the same two steps back on the unique (region_id, scheduled_for) as
// TICKD_REGIONS_FROM, but without the texts, the run details or the pending counts.
inline constexpr const char* kControlRegionKeys =
    "SELECT r.id, r.code, r.cron_schedule, r.timezone, r.active, "
    "  " TICKD_US_FLOAT("r.updated_at") ", r.timeout_ms, r.max_attempts, r.retry_backoff_ms, "
    "  r.overlap, r.start_window_ms, r.jitter_ms, " TICKD_US_FLOAT("r.paused_at") ", "
    "  " TICKD_US_FLOAT("j.scheduled_for") ", j.status, e.status "
    "FROM region_index r "
    "LEFT JOIN LATERAL (SELECT j0.scheduled_for, j0.status FROM job_run j0 "
    "                   WHERE j0.region_id = r.id "
    "                   ORDER BY j0.scheduled_for DESC LIMIT 1) j ON true "
    "LEFT JOIN LATERAL (SELECT e0.status FROM job_run e0 WHERE j.status = 'running' "
    "                   AND e0.region_id = r.id AND e0.status <> 'running' "
    "                   ORDER BY e0.scheduled_for DESC LIMIT 1) e ON true";

// $1 bigint[] ids: those regions (region_index's primary key), in no order.
inline constexpr const char* kControlRegionsByIds =
    TICKD_REGIONS_FROM "WHERE r.id = ANY($1::bigint[])";

// $1 text code: that region (the unique index on code), or no row.
inline constexpr const char* kControlRegion = TICKD_REGIONS_FROM "WHERE r.code = $1";

// $1 text code: the region's id, or no row.
inline constexpr const char* kControlRegionId = "SELECT id FROM region_index WHERE code = $1";

// The optional filters of a runs page, each NULL when not asked: PostgreSQL plans an
// unnamed statement with its parameters' values, so an unused filter folds to true and a
// used one is an index condition. $1 bigint before (ids below it), $2 text status,
// $3 timestamptz since (scheduled_for at or after).
#define TICKD_RUNS_FILTERS                         \
  "($1::bigint IS NULL OR j.id < $1::bigint) "     \
  "AND ($2::text IS NULL OR j.status = $2::text) " \
  "AND ($3::timestamptz IS NULL OR j.scheduled_for >= $3::timestamptz) "

// All regions' runs, newest first: job_run's primary key read backwards from $1, stopping
// after $4 rows; the filters on status and since are checked on the rows it reads (a rare
// status reads further back). Each row's region by its primary key.
// $1-$3 TICKD_RUNS_FILTERS, $4 int limit.
inline constexpr const char* kControlRuns =
    "SELECT " TICKD_RUN_COLUMNS
    "FROM job_run j LEFT JOIN region_index r ON r.id = j.region_id "
    "WHERE " TICKD_RUNS_FILTERS "ORDER BY j.id DESC LIMIT $4::int";

// One region's runs, newest first by instant: the unique (region_id, scheduled_for) read
// backwards from the page's start, stopping after $4 rows, whatever the region's history
// (no index on (region_id, id) to keep up at every claim). The page starts below the
// instant of run $1 (the previous page's last run). Status and since are checked on the rows
// it reads, as above.
// $1-$3 as TICKD_RUNS_FILTERS (but $1 pages by that run's instant), $4 int limit, $5 bigint
// region id.
inline constexpr const char* kControlRegionRuns =
    "SELECT " TICKD_RUN_COLUMNS
    "FROM job_run j LEFT JOIN region_index r ON r.id = j.region_id "
    "WHERE j.region_id = $5::bigint "
    "AND ($1::bigint IS NULL OR j.scheduled_for < "
    "  (SELECT b.scheduled_for FROM job_run b WHERE b.id = $1::bigint)) "
    "AND ($2::text IS NULL OR j.status = $2::text) "
    "AND ($3::timestamptz IS NULL OR j.scheduled_for >= $3::timestamptz) "
    "ORDER BY j.scheduled_for DESC LIMIT $4::int";

// $1 bigint run id: that run (job_run's primary key), or no row.
inline constexpr const char* kControlRun =
    "SELECT " TICKD_RUN_COLUMNS
    "FROM job_run j LEFT JOIN region_index r ON r.id = j.region_id WHERE j.id = $1";

// $1 bigint region id, $2 int limit: its audit rows, newest first (region_audit_region,
// (region_id, id), read backwards).
inline constexpr const char* kControlAudit =
    "SELECT id, region_id, code, op, " TICKD_US("at") ", actor, old::text, new::text "
    "FROM region_audit WHERE region_id = $1 ORDER BY id DESC LIMIT $2";

// $1 bigint milliseconds: the replicas whose heartbeat is younger than their own
// TICK_LEASE_MS (twice the silence each published, sql/007; $1 for a replica that published
// none), each with its running rows counted on the partial index job_run_running_by_replica
// (replica_id) WHERE running.
inline constexpr const char* kControlReplicas =
    "SELECT p.replica_id, " TICKD_US("p.heartbeat_at") ", p.version, "
    "  (SELECT count(*) FROM job_run j WHERE j.replica_id = p.replica_id "
    "     AND j.status = 'running') "
    "FROM tickd_replica p "
    "WHERE p.heartbeat_at >= "
    "  now() - coalesce(2 * p.lease_silence_ms, $1::bigint) * interval '1 millisecond' "
    "ORDER BY p.replica_id";

}  // namespace tickd::sql
