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

// A page of runs, newest first by instant then id, from tickd_runs_page (sql/010): its
// statement is planned once per connection, reads the day partitions newest first (an
// ordered Append on job_run_by_instant, or on the unique (region_id, scheduled_for) for one
// region) and stops at the page's last row, so a page costs the same whatever the history;
// here only each row's region (its primary key) and the 50-row sort of the function's rows.
// Each parameter NULL when not asked: $1 bigint region id (NULL: every region), $2 text
// status, $3 timestamptz since (scheduled_for at or after), $4 timestamptz and $5 bigint the
// cursor (the page starts below that run's instant and id), $6 bigint before (the page starts
// below the run of that id; none when no run has it), $7 int limit.
inline constexpr const char* kControlRunsPage =
    "SELECT " TICKD_RUN_COLUMNS
    "FROM tickd_runs_page($1::bigint, $2::text, $3::timestamptz, $4::timestamptz, $5::bigint, "
    "  $6::bigint, $7::int) j "
    "LEFT JOIN region_index r ON r.id = j.region_id "
    "ORDER BY j.scheduled_for DESC, j.id DESC";

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
