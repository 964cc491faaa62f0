#pragma once
// The statements tickd runs while serving, as named constants with their parameters.
// Tables are unqualified: they live in the connection's search_path schema.

#include <cstddef>

namespace tickd::sql {

// The columns of a RegionRow, in the order to_regions (database.cpp) reads them: the row,
// then its policies (sql/004_policies.sql), then the pause with paused_at as Unix
// microseconds, then the extras (sql/006_handlers.sql).
#define TICKD_REGION_COLUMNS                                                          \
  "id, code, cron_schedule, timezone, handlers, tick_sql, "                           \
  "timeout_ms, max_attempts, retry_backoff_ms, overlap, start_window_ms, jitter_ms, " \
  "(extract(epoch FROM paused_at) * 1000000)::bigint, paused_by, paused_reason, "     \
  "http, command, notify_url, notify_on, ping_url, xmin::text "

// All active regions, through a cursor (in chunks of kActiveRegionsChunk, one snapshot):
// declared inside the read transaction, then fetched until a chunk comes short.
inline constexpr const char* kDeclareActiveRegions =
    "DECLARE tickd_regions NO SCROLL CURSOR FOR "
    "SELECT " TICKD_REGION_COLUMNS "FROM region_index WHERE active ORDER BY id";
// The FETCH count below.
inline constexpr std::size_t kActiveRegionsChunk = 50'000;
inline constexpr const char* kFetchActiveRegions = "FETCH FORWARD 50000 FROM tickd_regions";

// Every active region's id and row version (xmin, see RegionRow::version): a few bytes a row
// where the whole rows are a few hundred, so a full pass that finds nothing changed is cheap.
inline constexpr const char* kLoadActiveVersions =
    "SELECT id, xmin::text FROM region_index WHERE active";

// $1 bigint[] region ids: the active ones among them.
inline constexpr const char* kLoadActiveRegionsById =
    "SELECT " TICKD_REGION_COLUMNS
    "FROM region_index WHERE active AND id = ANY($1::bigint[]) ORDER BY id";

// A CTE that sets tickd.on_running to 'skip' for the transaction, before any row is inserted
// when joined on its mode: job_run's trigger then skips a running row of a region that has
// one (sql/008), as ON CONFLICT DO NOTHING skips a row whose tick exists.
#define TICKD_SKIP_RUNNING \
  "skip_running AS MATERIALIZED (SELECT set_config('tickd.on_running', 'skip', true) AS mode)"

// Claims the ticks of one instant in one statement: sql/009 and sql/011 say how. $1 bigint[] region ids,
// $2 bigint[] their advisory keys (claim_key.hpp), $3 the instant, $4 replica id,
// $5 timestamptz[] start deadlines, $6 text[] cron expressions, $7 text[] time zones (each same
// order as $1). One row per input region: (region id, new run id or NULL, got the lock, its
// insert met this tick's row, the region exists, the deadline had passed). sql/011 is the
// current version.
inline constexpr const char* kClaimBatch =
    "SELECT * FROM tickd_claim_batch($1::bigint[], $2::bigint[], $3::timestamptz, $4::text, "
    "$5::timestamptz[], $6::text[], $7::text[])";

// $1 bigint[] region ids, $2 the instant: those whose tick already has a row. Also
// settles a claim that conflicted with a row committed during the claim statement (its
// EXISTS ran on the older snapshot): such a tick is taken, not overlapping.
inline constexpr const char* kAlreadyClaimed =
    "SELECT region_id FROM job_run WHERE scheduled_for = $2::timestamptz "
    "AND region_id = ANY($1::bigint[])";

// Records many ends in one statement: sql/009 says how. $1 bigint[] run ids, $2 timestamptz[]
// their scheduled_for (with the id, the row's key), $3 text[] statuses, $4 text[] errors (NULL
// elements for none), $5 text[] details, $6 replica id, $7 int[] attempts, $8 text[] the
// region's webhook (NULL: none), $9 bool[] whether it wants the status itself as an event,
// $10 bool[] whether it wants `recovered`. One row per input: (run id, written now, written
// before: an earlier try of this same write, whose outcome came back in doubt, committed).
inline constexpr const char* kFinishBatch =
    "SELECT * FROM tickd_finish_batch($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], "
    "$5::text[], $6::text, $7::int[], $8::text[], $9::bool[], $10::bool[])";

// A failed attempt that will be retried: the row stays running, counts the next attempt,
// and keeps the failed one's error and handler details in details.attempts. $1 run id,
// $2 replica id, $3 the failed attempt, $4 its error, $5 its details (JSON object). No row:
// the row is no longer this replica's running row of that attempt (taken over).
inline constexpr const char* kRecordAttempt =
    "UPDATE job_run SET attempt = attempt + 1, details = details || jsonb_build_object("
    "  'attempts', coalesce(details->'attempts', '[]'::jsonb) || jsonb_build_array("
    "    jsonb_build_object('attempt', $3::int, 'error', $4::text, 'at', now(), "
    "      'details', $5::jsonb))) "
    "WHERE id = $1 AND replica_id = $2 AND attempt = $3 AND status = 'running' "
    "RETURNING attempt";

// The liveness lock of a replica: a session advisory lock (two-int4 form, so it never
// meets the bigint keys of claims and migrations) on its direct connection. The first key
// is "tick"; the second names the replica within its schema (tables are per schema, locks
// per database). $1 replica id.
#define TICKD_LOCK_CLASS "1953063787"
#define TICKD_LOCK_KEY(replica) "hashtext(current_schema() || '/' || " replica ")"
inline constexpr const char* kTakeReplicaLock =
    "SELECT pg_try_advisory_lock(" TICKD_LOCK_CLASS ", " TICKD_LOCK_KEY("$1") ")";
// The server's current timeline: a promoted standby starts a new one.
#define TICKD_TIMELINE "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int"
// $1 replica id, $2 its version. After the lock: from now on, a free lock means this
// session ended.
inline constexpr const char* kRecordReplicaLock =
    "INSERT INTO tickd_replica (replica_id, locked_at, locked_timeline, version) "
    "VALUES ($1, now(), " TICKD_TIMELINE
    ", $2) "
    "ON CONFLICT (replica_id) DO UPDATE SET locked_at = now(), heartbeat_at = now(), "
    "  locked_timeline = excluded.locked_timeline, version = excluded.version";

// One liveness round's first statement: renews this replica's heartbeat, publishing its
// lease and crash silence with it, and judges every other replica (liveness.hpp) by the
// lease and silence that replica published (sql/007; this replica's own, $2 and $3, for a
// replica that published none). $1 this replica's id, $2 crash silence (s), $3 lease (s),
// $4 witnessed since (timestamptz; NULL: nothing witnessed yet). A free lock convicts only
// when taken since the server started, on its current timeline; silence counts against a
// replica only after both the server's start and $4. So a database restart or failover
// never convicts anyone. One row per other replica (id, verdict: NULL, 'crashed' or
// 'lease', heartbeat fresh within the lease, the verdict's instant now()), or one row of
// NULLs and now() when there is none.
inline constexpr const char* kJudgeReplicas =
    "WITH beat AS (INSERT INTO tickd_replica (replica_id, lease_silence_ms, crash_silence_ms) "
    "  VALUES ($1, ceil($3::double precision * 1000)::int, "
    "          ceil($2::double precision * 1000)::int) "
    "  ON CONFLICT (replica_id) DO UPDATE SET heartbeat_at = now(), "
    "    lease_silence_ms = excluded.lease_silence_ms, "
    "    crash_silence_ms = excluded.crash_silence_ms), "
    "since AS (SELECT greatest(pg_postmaster_start_time(), coalesce($4::timestamptz, now())) "
    "  AS t), "
    "held AS (SELECT objid FROM pg_locks WHERE locktype = 'advisory' "
    "  AND classid = " TICKD_LOCK_CLASS " "
    "  AND objsubid = 2 AND granted) "
    "SELECT r.replica_id, CASE "
    "  WHEN r.locked_at >= pg_postmaster_start_time() AND r.locked_timeline = " TICKD_TIMELINE
    "   AND r.heartbeat_at < now() - coalesce(r.crash_silence_ms * interval '1 millisecond', "
    "                                         make_interval(secs => $2)) "
    "   AND " TICKD_LOCK_KEY("r.replica_id") "::oid NOT IN (SELECT objid FROM held) "
    "  THEN 'crashed' "
    "  WHEN greatest(r.heartbeat_at, s.t) < now() - r.lease THEN 'lease' END, "
    "  r.heartbeat_at >= now() - r.lease, now() "
    "FROM since s LEFT JOIN (SELECT *, coalesce(lease_silence_ms * interval '1 millisecond', "
    "  make_interval(secs => $3)) AS lease FROM tickd_replica) r ON r.replica_id <> $1";

// The running rows that need a taker (each part served by the partial index on running
// rows). $1 text[] replicas judged dead, $2 this replica's id, $3 this process's start
// (NULL: not known yet), $4 bigint[] and $5 timestamptz[]: ticks whose claim here came
// back in doubt, $6 lease (s; NULL: skip the costlier scan for rows of replicas with no
// heartbeat row), $7 witnessed since (as in kJudgeReplicas), $8 the verdict's instant
// (kJudgeReplicas' now()). A dead replica's rows are those it claimed before the verdict:
// the round is not one transaction, and a replica waking from a stall renews its heartbeat
// (unseen by the verdict) before it claims again, so a claim begun after the verdict is a
// live replica's.
// An orphan's trigger and the microseconds of its instant below the second (a manual run's).
#define TICKD_ORPHAN_TAIL(t) \
  t "trigger, (extract(microseconds FROM " t "scheduled_for)::bigint % 1000000)"
// Rows: (run id, region id, instant as Unix seconds (floor), replica id, attempt, cause,
// trigger, the instant's microseconds below the second).
inline constexpr const char* kFindOrphans =
    "SELECT id, region_id, floor(extract(epoch FROM scheduled_for))::bigint, replica_id, attempt, "
    "  'dead', " TICKD_ORPHAN_TAIL("") " FROM job_run WHERE status = 'running' AND replica_id = ANY($1::text[]) "
    "  AND started_at < $8::timestamptz "
    "UNION ALL "
    "SELECT id, region_id, floor(extract(epoch FROM scheduled_for))::bigint, replica_id, attempt, "
    "  'earlier_run', " TICKD_ORPHAN_TAIL("") " FROM job_run WHERE status = 'running' AND replica_id = $2 "
    "  AND started_at < $3::timestamptz "
    "UNION ALL "
    "SELECT j.id, j.region_id, floor(extract(epoch FROM j.scheduled_for))::bigint, j.replica_id, "
    "  j.attempt, 'in_doubt', " TICKD_ORPHAN_TAIL("j.") " FROM job_run j "
    "  JOIN unnest($4::bigint[], $5::timestamptz[]) AS d (region_id, scheduled_for) "
    "  ON j.region_id = d.region_id AND j.scheduled_for = d.scheduled_for "
    "  WHERE j.status = 'running' AND j.replica_id = $2 "
    "  AND NOT (j.started_at < $3::timestamptz) IS TRUE "
    "UNION ALL "
    "SELECT id, region_id, floor(extract(epoch FROM scheduled_for))::bigint, replica_id, attempt, "
    "  'unregistered', " TICKD_ORPHAN_TAIL("j.") " FROM job_run j WHERE $6::double precision IS NOT NULL "
    "  AND status = 'running' AND replica_id <> $2 AND NOT replica_id = ANY($1::text[]) "
    "  AND NOT EXISTS (SELECT 1 FROM tickd_replica r WHERE r.replica_id = j.replica_id) "
    "  AND greatest(started_at, pg_postmaster_start_time(), coalesce($7::timestamptz, now())) "
    "      < now() - make_interval(secs => $6::double precision)";

// Orphans as observed: $1 bigint[] run ids, $2 text[] their replica ids, $3 int[] their
// attempts. Rows still so (running, nobody took or ended them) and not locked by a
// tick_sql committing right now (those wait for the next round).
#define TICKD_ORPHANS_AS_SEEN                                                               \
  "WITH v AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[]) "                   \
  "  AS v (id, replica_id, attempt)), "                                                     \
  "t AS (SELECT j.id FROM job_run j JOIN v ON j.id = v.id AND j.replica_id = v.replica_id " \
  "  AND j.attempt = v.attempt WHERE j.status = 'running' FOR UPDATE OF j SKIP LOCKED) "

// $4 this replica's id, $5 text[] causes (same order). The orphans become this replica's
// to run again: attempt + 1, started_at the takeover (the claim of this attempt), and
// details.taken_over lists whom each attempt was taken from and why (the end's details
// are added to it). Rows: (run id, new attempt).
inline constexpr const char* kTakeOver = TICKD_ORPHANS_AS_SEEN
    ", c AS (SELECT * FROM unnest($1::bigint[], $5::text[]) AS c (id, cause)) "
    "UPDATE job_run j SET replica_id = $4, attempt = j.attempt + 1, started_at = now(), "
    "  details = j.details || jsonb_build_object('taken_over', "
    "    coalesce(j.details->'taken_over', '[]'::jsonb) || jsonb_build_array(jsonb_build_object("
    "      'from', j.replica_id, 'attempt', j.attempt, 'cause', c.cause, 'at', now()))) "
    "FROM t JOIN c USING (id) WHERE j.id = t.id RETURNING j.id, j.attempt";

// $4 text[] errors (same order), $5 NOTIFY_URL ('': none). Ends them abandoned, and adds
// the `abandoned` event of those whose region wants it (sql/006). Rows: the run ids ended.
inline constexpr const char* kAbandon = TICKD_ORPHANS_AS_SEEN
    ", e AS (SELECT * FROM unnest($1::bigint[], $4::text[]) AS e (id, error)), "
    "ab AS (UPDATE job_run j SET status = 'abandoned', finished_at = now(), error = e.error "
    "  FROM t JOIN e USING (id) WHERE j.id = t.id "
    "  RETURNING j.id, j.region_id, j.scheduled_for, j.attempt, j.error, j.replica_id), "
    "ins AS (INSERT INTO tickd_notification (region_id, scheduled_for, event, url, payload) "
    "  SELECT ab.region_id, ab.scheduled_for, 'abandoned', coalesce(r.notify_url, NULLIF($5::text, "
    "'')), "
    "    tickd_notification_payload('abandoned', ab.region_id, ab.scheduled_for, 'abandoned', "
    "      ab.attempt, ab.error, ab.id, ab.replica_id) "
    "  FROM ab JOIN region_index r ON r.id = ab.region_id "
    "  WHERE coalesce(r.notify_url, NULLIF($5::text, '')) IS NOT NULL AND "
    "tickd_wants_event(r.notify_on, 'abandoned') "
    "  ON CONFLICT ON CONSTRAINT tickd_notification_once DO NOTHING) "
    "SELECT id FROM ab";

// $1 bigint[] region ids, $2 timestamptz[] their first missed instant, $3 int[] how many
// were missed, $4 NOTIFY_URL ('': none), $5 replica id. Adds the `missed` event of each
// region that wants it, unless its instant has a job_run row (another replica ran it: only
// this one fell behind). Every replica that sees the miss may add it: the first one counts.
inline constexpr const char* kRecordMissed =
    "INSERT INTO tickd_notification (region_id, scheduled_for, event, url, payload) "
    "SELECT r.id, m.at, 'missed', coalesce(r.notify_url, NULLIF($4::text, '')), "
    "  tickd_notification_payload('missed', r.id, m.at, 'missed', 0, "
    "    m.n || ' tick(s) missed: past their start deadline when due', NULL, $5) "
    "    || jsonb_build_object('missed', m.n) "
    "FROM unnest($1::bigint[], $2::timestamptz[], $3::int[]) AS m (id, at, n) "
    "JOIN region_index r ON r.id = m.id "
    "WHERE coalesce(r.notify_url, NULLIF($4::text, '')) IS NOT NULL AND "
    "tickd_wants_event(r.notify_on, 'missed') "
    "AND NOT EXISTS (SELECT FROM job_run j WHERE j.region_id = m.id AND j.scheduled_for = m.at) "
    "ON CONFLICT ON CONSTRAINT tickd_notification_once DO NOTHING";

inline constexpr const char* kNow = "SELECT extract(epoch FROM now())::double precision";
// Alone in its round trip, so that the clock is read about halfway through it.
inline constexpr const char* kClock =
    "SELECT extract(epoch FROM clock_timestamp())::double precision";

inline constexpr const char* kKeepalive = "SELECT 1";

// Before tick_sql's transaction begins. $1 run id (0: none), $2 the tick's instant: waits
// until the database's clock reads the instant (tickd's anchored clock agrees with it only
// to within a round trip, and tick_sql must see clock_timestamp() and now() at or after the
// instant), then says whether an earlier attempt's tick_sql committed.
inline constexpr const char* kTickSqlGate =
    "SELECT EXISTS (SELECT FROM job_run WHERE id = $1 AND tick_sql_at IS NOT NULL) "
    "FROM pg_sleep(greatest(0, extract(epoch FROM $2::timestamptz - clock_timestamp())))";
// Runs the prepared tick_sql, followed by its two arguments: "(<region id>, '<instant>')".
// EXPLAIN ANALYZE runs it as EXECUTE would, to its last row (triggers, writable CTEs, locks,
// volatile functions in its select list), but hands its rows to no receiver: they are
// discarded inside PostgreSQL as they are made, never converted to text nor sent. Only the
// plan comes back, a few lines. Its error messages and SQLSTATEs are the statement's own.
inline constexpr const char* kRunTickSql =
    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE tickd_tick_sql ";
// After a tick_sql: every setting its session changed (set_config(..., false): search_path,
// role, timeouts...) back to the connection's own. Not DISCARD ALL: behind pgbouncer in
// transaction pooling it resets the parameters pgbouncer tracks per client (it then lends the
// server connection out with another client's application_name), so those few are left to
// pgbouncer. Nothing to reset (the usual case): one quick catalogue read.
inline constexpr const char* kResetSession =
    "DO $$ DECLARE n text; BEGIN "
    "FOR n IN SELECT name FROM pg_settings WHERE source = 'session' AND name NOT IN ("
    "  'application_name', 'client_encoding', 'DateStyle', 'TimeZone', 'IntervalStyle', "
    "  'standard_conforming_strings') LOOP "
    "  EXECUTE format('RESET %I', n); "
    "END LOOP; END $$";

// $1 run id: whether an earlier attempt's tick_sql committed.
inline constexpr const char* kTickSqlDone =
    "SELECT tick_sql_at IS NOT NULL FROM job_run WHERE id = $1";
// After the tick_sql, in its transaction, before the mark: the connection's own search_path
// back for the rest of the transaction (a tick_sql may have set another, even for the
// session: the mark must still find job_run). reset_val is what RESET restores (startup
// options, role and database defaults); pg_catalog is searched whatever the path says.
inline constexpr const char* kRestoreSearchPath =
    "SELECT set_config('search_path', reset_val, true) FROM pg_settings "
    "WHERE name = 'search_path'";
// $1 run id, $2 replica id, $3 attempt: the mark, last before COMMIT; no row means the tick
// was taken over meanwhile, and the transaction rolls back.
inline constexpr const char* kMarkTickSql =
    "UPDATE job_run SET tick_sql_at = now() WHERE id = $1 AND replica_id = $2 AND attempt = $3 "
    "AND status = 'running' AND tick_sql_at IS NULL";

// Run requests (sql/005_control.sql). A region's requests start in instant order, one at a
// time while any tick of the region runs (overlap skip or buffer_one: the database allows
// one running row), or while a backfill run of it runs (overlap allow: manual runs go
// alongside). Per region, the first pending request; regions this transaction cannot lock
// (another replica is starting theirs) are left for the next look; the request is marked
// started only if still pending once locked (the UPDATE re-reads it), so it starts once.
// $1 how many at most. Rows: (request id, region id, trigger, scheduled_for as Unix
// microseconds, requested_by).
#define TICKD_REQUEST_LOCK_CLASS "1953066354"
inline constexpr const char* kPickRequests =
    "WITH first AS (SELECT DISTINCT ON (q.region_id) q.id, q.region_id, q.trigger, "
    "    q.scheduled_for FROM run_request q WHERE q.state = 'pending' "
    "    ORDER BY q.region_id, q.scheduled_for, q.id), "
    "ready AS (SELECT f.id, f.region_id FROM first f JOIN region_index r ON r.id = f.region_id "
    "  WHERE NOT EXISTS (SELECT FROM job_run j WHERE j.region_id = f.region_id "
    "    AND j.status = 'running' "
    "    AND (r.overlap <> 'allow' OR (j.trigger = 'backfill' AND f.trigger = 'backfill'))) "
    "  ORDER BY f.scheduled_for, f.id LIMIT $1), "
    "locked AS (SELECT id FROM ready WHERE pg_try_advisory_xact_lock(" TICKD_REQUEST_LOCK_CLASS
    ", hashtext(current_schema() || '/' || region_id))) "
    "UPDATE run_request q SET state = 'started', handled_at = now() FROM locked l "
    "WHERE q.id = l.id AND q.state = 'pending' "
    "RETURNING q.id, q.region_id, q.trigger, (extract(epoch FROM q.scheduled_for) * "
    "1000000)::bigint, "
    "  q.requested_by";

// Whether any run request waits (the partial index on pending requests).
inline constexpr const char* kRequestsPending =
    "SELECT EXISTS (SELECT FROM run_request WHERE state = 'pending')";

// One picked request's run: its job_run row, running under this replica, with what the
// region's row says now. $1 request id, $2 replica id. No row: the insert conflicted (a
// row for that instant exists, or a tick of the region started meanwhile).
inline constexpr const char* kStartRequest =
    "WITH " TICKD_SKIP_RUNNING
    " INSERT INTO job_run (region_id, scheduled_for, replica_id, status, trigger, requested_by, "
    "  cron_schedule, timezone, overlap_allowed) "
    "SELECT q.region_id, q.scheduled_for, $2, 'running', q.trigger, q.requested_by, "
    "  r.cron_schedule, r.timezone, r.overlap = 'allow' "
    "FROM run_request q JOIN region_index r ON r.id = q.region_id "
    "JOIN skip_running ON skip_running.mode = 'skip' WHERE q.id = $1 "
    "ON CONFLICT DO NOTHING RETURNING id";
// job_run's partitions (sql/008). A DDL lock waiting in the queue would hold up every claim
// behind it: partition work waits at most 200 ms for its locks, then fails (the next pass,
// or the next claim, tries again).
inline constexpr const char* kHistoryLockWait = "SET LOCAL lock_timeout = '200ms'";
// $1 date: that UTC day's partition, made if missing.
inline constexpr const char* kAddHistoryDay =
    "SELECT tickd_job_run_add_partitions($1::date, $1::date)";

// $1 request id: the job_run partition of its instant's UTC day, made if missing (sql/008).
inline constexpr const char* kRequestPartition =
    "SELECT tickd_job_run_add_partitions(d, d) FROM (SELECT (scheduled_for AT TIME ZONE "
    "'UTC')::date "
    "  AS d FROM run_request WHERE id = $1) q";
// $1 request id, $2 run id.
inline constexpr const char* kRequestStarted = "UPDATE run_request SET run_id = $2 WHERE id = $1";
// $1 request id. Its instant has a row already (a backfill of an instant that ran): it
// ends skipped; otherwise (a tick started meanwhile) it goes back to pending.
inline constexpr const char* kRequestNotStarted =
    "UPDATE run_request q SET "
    "  state = CASE WHEN e.taken THEN 'skipped' ELSE 'pending' END, "
    "  handled_at = CASE WHEN e.taken THEN now() END, "
    "  error = CASE WHEN e.taken THEN 'a run of this instant exists already' END "
    "FROM (SELECT EXISTS (SELECT FROM job_run j, run_request q2 WHERE q2.id = $1 "
    "  AND j.region_id = q2.region_id AND j.scheduled_for = q2.scheduled_for) AS taken) e "
    "WHERE q.id = $1";
// $1 bigint[] region ids: their rows, whatever their state (a manual run works on paused
// and inactive regions too).
inline constexpr const char* kLoadRegionsById =
    "SELECT " TICKD_REGION_COLUMNS "FROM region_index WHERE id = ANY($1::bigint[]) ORDER BY id";

// $1 bigint[] run ids: those still running whose cancel was asked for, and by whom.
inline constexpr const char* kCancelsRequested =
    "SELECT id, coalesce(cancel_requested_by, '') FROM job_run WHERE id = ANY($1::bigint[]) "
    "AND status = 'running' AND cancel_requested_at IS NOT NULL";

// $1 replica id, $2 reason.
inline constexpr const char* kFailOwnRunning =
    "WITH f AS (UPDATE job_run SET status = 'failed', finished_at = now(), error = $2 "
    "  WHERE status = 'running' AND replica_id = $1 "
    "  RETURNING id, region_id, scheduled_for, attempt, error), "
    // Their `failed` events, as kAbandon's; $3 NOTIFY_URL ('': none).
    "ins AS (INSERT INTO tickd_notification (region_id, scheduled_for, event, url, payload) "
    "  SELECT f.region_id, f.scheduled_for, 'failed', coalesce(r.notify_url, NULLIF($3::text, "
    "'')), "
    "    tickd_notification_payload('failed', f.region_id, f.scheduled_for, 'failed', "
    "      f.attempt, f.error, f.id, $1) "
    "  FROM f JOIN region_index r ON r.id = f.region_id "
    "  WHERE coalesce(r.notify_url, NULLIF($3::text, '')) IS NOT NULL AND "
    "tickd_wants_event(r.notify_on, 'failed') "
    "  ON CONFLICT ON CONSTRAINT tickd_notification_once DO NOTHING) "
    "SELECT count(*) FROM f";

// $1 replica id.
inline constexpr const char* kRetire = "DELETE FROM tickd_replica WHERE replica_id = $1";

}  // namespace tickd::sql
