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

// Claims one tick in one statement (one implicit transaction, so it also works behind a
// transaction pooler). The advisory lock serialises concurrent claims of the same tick;
// the unique (region_id, scheduled_for) constraint makes the claim durable, and the
// partial unique index on running rows forbids a second running tick of a region.
// $1 region id, $2 scheduled instant, $3 replica id, $4 advisory key (claim_key.hpp).
// Returns (got_lock, new run id or NULL, a row for this tick already exists).
inline constexpr const char* kClaim =
    "WITH lock AS (SELECT pg_try_advisory_xact_lock($4::bigint) AS got), "
    "ins AS ("
    "  INSERT INTO job_run (region_id, scheduled_for, replica_id, status) "
    "  SELECT $1::bigint, $2::timestamptz, $3::text, 'running' FROM lock WHERE got "
    "  ON CONFLICT DO NOTHING RETURNING id) "
    "SELECT (SELECT got FROM lock), (SELECT id FROM ins), "
    "  EXISTS (SELECT 1 FROM job_run WHERE region_id = $1::bigint "
    "          AND scheduled_for = $2::timestamptz)";

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
