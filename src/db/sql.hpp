#pragma once
// The statements tickd runs while serving, as named constants with their parameters.
// Tables are unqualified: they live in the connection's search_path schema.

namespace tickd::sql {

// All active regions.
inline constexpr const char* kLoadActiveRegions =
    "SELECT id, code, cron_schedule, timezone, handlers, tick_sql "
    "FROM region_index WHERE active ORDER BY id";

// $1 bigint[] region ids: the active ones among them.
inline constexpr const char* kLoadActiveRegionsById =
    "SELECT id, code, cron_schedule, timezone, handlers, tick_sql "
    "FROM region_index WHERE active AND id = ANY($1::bigint[]) ORDER BY id";

// Claims the ticks of one instant in one statement (one implicit transaction, so it also
// works behind a transaction pooler). Per tick: a transaction-scoped advisory lock
// serialises concurrent claims of it; the unique (region_id, scheduled_for) makes the
// claim durable; the partial unique index on running rows forbids a second running tick
// of a region; and a tick is not claimed once its start deadline has passed on the
// database's clock (a claim that was stuck in a dead connection must not start late).
// $1 bigint[] region ids, $2 bigint[] their advisory keys (claim_key.hpp), $3 the
// instant, $4 replica id, $5 timestamptz[] start deadlines (same order as $1).
// One row per input region: (region id, new run id or NULL, got the lock, a row for
// this tick existed before the statement, the region exists, the deadline had passed).
inline constexpr const char* kClaimBatch =
    "WITH want AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $5::timestamptz[]) "
    "              AS w (region_id, lock_key, deadline)), "
    "locked AS (SELECT w.region_id FROM want w JOIN region_index r ON r.id = w.region_id "
    "           WHERE pg_try_advisory_xact_lock(w.lock_key)), "
    "ins AS ("
    "  INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
    "  SELECT l.region_id, $3::timestamptz, $4::text, 'running' "
    "  FROM locked l JOIN want w USING (region_id) WHERE clock_timestamp() <= w.deadline "
    "  ON CONFLICT DO NOTHING RETURNING id, region_id) "
    "SELECT w.region_id, ins.id, l.region_id IS NOT NULL, "
    // CASE evaluates lazily: the lookups run only for the (rare) ticks not claimed here.
    "  CASE WHEN ins.id IS NULL THEN EXISTS (SELECT 1 FROM job_run j "
    "    WHERE j.region_id = w.region_id AND j.scheduled_for = $3::timestamptz) END, "
    "  CASE WHEN ins.id IS NULL THEN EXISTS (SELECT 1 FROM region_index r "
    "    WHERE r.id = w.region_id) ELSE true END, "
    "  clock_timestamp() > w.deadline "
    "FROM want w LEFT JOIN ins USING (region_id) LEFT JOIN locked l USING (region_id)";

// $1 bigint[] region ids, $2 the instant: those whose tick already has a row. Also
// settles a claim that conflicted with a row committed during the claim statement (its
// EXISTS ran on the older snapshot): such a tick is taken, not overlapping.
inline constexpr const char* kAlreadyClaimed =
    "SELECT region_id FROM job_run WHERE scheduled_for = $2::timestamptz "
    "AND region_id = ANY($1::bigint[])";

// The batched form of kFinish. $1 bigint[] run ids, $2 text[] statuses, $3 text[] errors
// (NULL elements for none), $4 text[] details, $5 replica id. Returns the ids written;
// the others were no longer this replica's running rows (fenced).
inline constexpr const char* kFinishBatch =
    "UPDATE job_run j SET status = v.status, finished_at = now(), error = v.error, "
    "  details = v.details::jsonb "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS v (id, status, error, "
    "details) "
    "WHERE j.id = v.id AND j.replica_id = $5 AND j.status = 'running' "
    "RETURNING j.id";

// $1 lease in seconds (double), $2 this replica's id: the replicas whose heartbeat is
// fresh (this one always counts), sorted, and the database's clock (Unix seconds).
inline constexpr const char* kLiveReplicas =
    "SELECT coalesce(array_agg(replica_id ORDER BY replica_id), '{}'), "
    "  extract(epoch FROM clock_timestamp())::double precision "
    "FROM tickd_replica "
    "WHERE heartbeat_at >= now() - make_interval(secs => $1::double precision) OR replica_id = $2";

// $1 run id, $2 replica id, $3 status, $4 error or NULL, $5 details json.
// Fenced: changes nothing unless the row is still ours and running.
inline constexpr const char* kFinish =
    "UPDATE job_run SET status = $3, finished_at = now(), error = $4, details = $5::jsonb "
    "WHERE id = $1 AND replica_id = $2 AND status = 'running'";

inline constexpr const char* kKeepalive = "SELECT 1";

// $1 replica id.
inline constexpr const char* kHeartbeat =
    "INSERT INTO tickd_replica (replica_id) VALUES ($1) "
    "ON CONFLICT (replica_id) DO UPDATE SET heartbeat_at = now()";

// $1 lease in seconds (double). Running rows whose replica has not renewed its
// heartbeat within the lease (or has none) and that started before the lease.
inline constexpr const char* kAbandonExpired =
    "UPDATE job_run j SET status = 'abandoned', finished_at = now(), "
    "  error = 'replica ' || j.replica_id || ' stopped renewing its lease' "
    "WHERE j.status = 'running' "
    "  AND j.started_at < now() - make_interval(secs => $1::double precision) "
    "  AND NOT EXISTS (SELECT 1 FROM tickd_replica r WHERE r.replica_id = j.replica_id "
    "      AND r.heartbeat_at >= now() - make_interval(secs => $1::double precision))";

// $1 replica id.
inline constexpr const char* kAbandonOwn =
    "UPDATE job_run SET status = 'abandoned', finished_at = now(), "
    "  error = 'replica ' || replica_id || ' restarted while this tick was running' "
    "WHERE status = 'running' AND replica_id = $1";

// $1 replica id, $2 reason.
inline constexpr const char* kFailOwnRunning =
    "UPDATE job_run SET status = 'failed', finished_at = now(), error = $2 "
    "WHERE status = 'running' AND replica_id = $1";

// $1 replica id.
inline constexpr const char* kRetire = "DELETE FROM tickd_replica WHERE replica_id = $1";

}  // namespace tickd::sql
