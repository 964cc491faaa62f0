#pragma once
// Everything tickd asks of PostgreSQL while running, behind one class so that no other
// component includes <pqxx/pqxx>. Connections come from three bounded pools, created lazily,
// each connection with libpq keepalives and timeouts so a dead server is noticed in
// seconds:
//   - bookkeeping (kBookkeepingPoolSize): claims, ends, region loads;
//   - liveness (one connection): liveness rounds and takeovers, so a heartbeat waits for nothing;
//   - handlers (DB_POOL_SIZE): run_tick_sql, keepalive and the stores that use pool().
// So bookkeeping never waits for a connection behind handler work (and the service runs
// claims on threads of their own). In the handler pool short work is
// served first and keeps a quarter of the connections (src/db/basic_pool.hpp); a
// tick_sql's expected length is its region's recent runs. Methods are thread-safe and
// block the calling thread: call them from worker threads, never from the event loop.
//
// Failures throw DbError, whose kind says what the caller can do, as pqxx::perform
// decides: retry (the database was unreachable or the transaction lost a race), give up
// (an error in the statement), or in doubt (the connection was lost while a write may
// have committed: read the row before doing anything else).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tickd/dispatch/liveness.hpp"
#include "tickd/schedule/region.hpp"
#include "tickd/schedule/run_status.hpp"

namespace tickd {

class Metrics;
class Cancellation;

namespace db {
class Pool;  // src/db/pool.hpp: for other stores inside src/db (e.g. the work queues)
}

class DbError : public std::runtime_error {
 public:
  enum class Kind { retry, give_up, in_doubt };
  DbError(const std::string& what, Kind kind) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }
  // The database was not reached, or the connection was lost: report it down.
  bool unavailable() const { return kind_ != Kind::give_up; }

 private:
  Kind kind_;
};

enum class ClaimOutcome {
  won,          // this replica holds the tick: a `running` job_run row exists for it
  taken,        // another replica claimed (or is claiming) this tick
  overlapping,  // the region still has a `running` tick; this one is not claimed
  gone,         // the region was deleted meanwhile
  expired,      // the tick's start deadline had passed when the claim reached the database
};

struct Claim {
  ClaimOutcome outcome;
  std::int64_t run_id = 0;  // set when won
};

// One attempt of a claimed tick: its row, and the attempt that every write is fenced by.
struct RunRef {
  std::int64_t run_id = 0;
  int attempt = 1;
  std::string replica_id;
};

class Database final {
 public:
  // The bookkeeping pool's connections: for the claims of the two claim threads (short
  // statements), the finisher thread and reconcile loads, which all run concurrently. The
  // liveness rounds and takeovers have one more connection of their own.
  static constexpr unsigned kBookkeepingPoolSize = 4;

  // `metrics` (may be null) gets the pools' waits and connections in use.
  Database(std::string database_url, unsigned handler_pool_size, Metrics* metrics = nullptr,
           unsigned bookkeeping_pool_size = kBookkeepingPoolSize);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // NOTIFY_URL, for the events the database adds where no row in memory says where they go
  // (abandoned, missed, and ticks failed at shutdown). Set once, before use.
  void set_default_notify_url(std::string url) { default_notify_url_ = std::move(url); }

  // The `missed` events of regions that fell behind (sql::kRecordMissed).
  struct Missed {
    std::int64_t region_id;
    std::chrono::sys_seconds first;  // the first instant given up
    int count;
  };
  void record_missed(const std::vector<Missed>& missed, const std::string& replica_id);

  // All active regions, or the active ones among `ids` (deleted and inactive ids are absent).
  std::vector<RegionRow> load_active_regions();
  std::vector<RegionRow> load_active_regions(const std::vector<std::int64_t>& ids);
  // The id and row version of every active region.
  std::vector<RegionVersion> load_active_versions();

  using Deadline = std::chrono::sys_time<std::chrono::milliseconds>;
  // One tick to claim: the row its instant was computed from (its id, and the expression
  // and zone recorded on the run), and its start deadline.
  struct ClaimRequest {
    RowPtr row;
    Deadline deadline = Deadline::max();
  };
  // Claims the ticks of one instant in one statement; one Claim per request, in order. A
  // tick whose deadline has passed on the database's clock is not claimed (`expired`).
  std::vector<Claim> claim_batch(const std::vector<ClaimRequest>& ticks,
                                 std::chrono::sys_seconds scheduled_for,
                                 const std::string& replica_id);

  // The ids among `region_ids` whose tick at `scheduled_for` already has a job_run row.
  std::vector<std::int64_t> already_claimed(const std::vector<std::int64_t>& region_ids,
                                            std::chrono::sys_seconds scheduled_for);

  struct Finish {
    std::int64_t run_id;
    // The row's job_run.scheduled_for: with the id, its key in the partitioned table.
    std::chrono::sys_time<std::chrono::microseconds> scheduled_for;
    RunStatus status;
    std::optional<std::string> error;  // job_run.error: set when a handler failed
    std::string details;               // JSON object
    int attempt = 1;
    // The end's notifications (sql/006), added in the same statement: the region's webhook
    // (none: no event), whether it wants the status itself as an event, and `recovered`.
    std::optional<std::string> notify_url{};
    bool notify_status = false;
    bool notify_recovered = false;
  };
  // Records many ends in one statement; returns the run ids that were fenced (not written:
  // the row is no longer this replica's running row of that attempt). Safe to repeat after
  // an error in doubt: an end that an earlier try committed counts as written.
  // A failed attempt (finish.status unused) to be retried on the same row: attempt + 1, the
  // failure appended to details.attempts, the row still running. False: fenced (the row is
  // no longer this replica's running row of that attempt).
  bool record_attempt(const Finish& failed, const std::string& replica_id);
  std::vector<std::int64_t> finish_batch(const std::vector<Finish>& finishes,
                                         const std::string& replica_id);

  // The replicas with a fresh heartbeat (younger than `fresh`), sorted, this one
  // included, and the database's clock at that moment.
  struct Peers {
    std::vector<std::string> live;
    std::chrono::system_clock::time_point db_clock;
    // Around the statement's round trip alone (not the wait for a pooled connection), for
    // estimating when the database read its clock.
    std::chrono::steady_clock::time_point sent, received;
  };

  // One liveness round (see liveness.hpp): renews this replica's heartbeat, judges the
  // others, and finds the running rows that need a taker.
  struct LivenessRound {
    std::string replica_id;
    std::chrono::milliseconds crash_silence;  // a free lock convicts after this much silence
    std::chrono::milliseconds lease;          // silence that convicts without the lock
    std::optional<std::chrono::system_clock::time_point> witnessed_since;
    // Rows of this replica id claimed before this moment belong to an earlier process.
    std::optional<std::chrono::system_clock::time_point> incarnation;
    // Ticks whose claim here came back in doubt: their rows, if any, are orphans.
    std::vector<std::pair<std::int64_t, std::chrono::sys_seconds>> in_doubt;
    // Also look for running rows of replicas without a heartbeat row (rare: a costlier scan).
    bool check_unregistered = false;
  };
  struct LivenessResult {
    Peers peers;  // the live replicas: fresh and not judged dead
    std::vector<Orphan> orphans;
  };
  LivenessResult liveness_round(const LivenessRound& round);

  // Takes orphans over for this replica to run again: each row still as observed (same
  // replica and attempt, running, not locked by a committing tick_sql) becomes ours with
  // attempt + 1. Returns the rows taken, with their new attempt.
  std::vector<RunRef> take_over(const std::vector<Orphan>& orphans, const std::string& replica_id);
  // Ends orphans `abandoned` with their error (same order); returns how many were ended.
  std::size_t abandon(const std::vector<Orphan>& orphans, const std::vector<std::string>& errors);

  // The database's clock now: rows of this replica id claimed before it are an earlier
  // process's. Call before this process's first claim.
  std::chrono::system_clock::time_point begin_incarnation();

  void keepalive();  // SELECT 1

  // Runs `sql` in its own transaction under `timeout`, with $1 = region id (bigint) and
  // $2 = scheduled instant (timestamptz), either of which it may leave unused. With a
  // `run`, the transaction also marks that job_run row (tick_sql_at): the SQL commits only
  // while the row is still that attempt's, and not again once an earlier attempt's
  // committed. Returns false when it was not run for that reason (already committed).
  // Throws DbError when the row was taken over meanwhile (rolled back) or on any error.
  // A `cancellation` requested meanwhile cancels the statement on the server (it then
  // fails with the server's "canceling statement due to user request").
  bool run_tick_sql(const std::string& sql, std::int64_t region_id,
                    std::chrono::sys_time<std::chrono::microseconds> scheduled_for,
                    std::chrono::milliseconds timeout, const RunRef* run = nullptr,
                    Cancellation* cancellation = nullptr);

  // Starts up to `limit` run requests (manual and backfill, sql/005_control.sql) as this
  // replica's: each request's job_run row (running) is inserted in the same transaction as
  // the request is marked started, so a request starts once and is never lost with a
  // replica (a dead one's row is taken over like any other). Returns them with their
  // regions' rows as they are now (paused and inactive ones too).
  struct RequestedRun {
    std::int64_t run_id = 0;
    RowPtr row;
    std::chrono::sys_time<std::chrono::microseconds> scheduled_for;
    std::string trigger;
    std::string requested_by;
    int attempt = 1;
  };
  std::vector<RequestedRun> start_requests(const std::string& replica_id, std::size_t limit);
  bool requests_pending();  // any run request waiting to start
  // The rows of `ids` whatever their state (paused, inactive); deleted ones are absent.
  std::vector<RegionRow> load_regions(const std::vector<std::int64_t>& ids);
  // Among `run_ids`, those still running whose cancel was asked for, and who asked.
  std::vector<std::pair<std::int64_t, std::string>> cancels_requested(
      const std::vector<std::int64_t>& run_ids);

  // At shutdown: marks our still-running rows failed with `reason`; removes our heartbeat.
  std::size_t fail_own_running(const std::string& replica_id, const std::string& reason);
  void retire(const std::string& replica_id);

  // The handler pool, for the other stores in src/db that do handler work (the work queues).
  db::Pool& pool();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string default_notify_url_;  // NOTIFY_URL; empty: none
};

// libpq connection string with tickd's defaults added where the user did not set them:
// application_name, connect_timeout, keepalives and tcp_user_timeout. Works for both
// URI (postgres://...) and key=value strings.
std::string with_connection_defaults(const std::string& database_url);

}  // namespace tickd
