#pragma once
// What the control surface (`tickd region ...`, `tickd runs`, the /v1 API) asks of the
// database: views of regions, runs, the audit trail and the replicas, and the actions
// (pause, resume, trigger, backfill, cancel). One class for the CLI and the API, so both
// say and do the same. It acts on the database alone: no replica needs to be up, and the
// replicas apply what it writes within a second (notifications on tickd_region_changed
// and tickd_control, see sql/005_control.sql).
//
// Blocking and thread-safe (a small pool of its own connections, each statement under
// `statement_timeout`). Throws DbError when the database cannot be used (unreachable, a
// timeout) and ControlError when the request is refused (an unknown region, a bad
// range, the region's state); a refused action has written nothing.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tickd {

using Micros = std::chrono::sys_time<std::chrono::microseconds>;

class ControlError : public std::runtime_error {
 public:
  enum class Kind {
    bad_input,  // CLI exit 2, HTTP 400: a malformed time, from after to, too many instants
    not_found,  // CLI exit 2, HTTP 404: no region with that code
    conflict,   // CLI exit 1, HTTP 409: refused by the region's state (paused, running...)
  };
  ControlError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// A job_run row as the control surface shows it.
struct RunView {
  std::int64_t id = 0;
  std::int64_t region_id = 0;
  std::string code;  // the region's code (empty if the region is gone)
  Micros scheduled_for{};
  std::string status;   // running, ok, failed, abandoned, cancelled
  std::string trigger;  // schedule, manual, backfill
  int attempt = 1;
  std::optional<std::string> requested_by;
  std::string replica_id;
  Micros started_at{};
  std::optional<Micros> finished_at;
  std::optional<std::string> error;
  std::string details = "{}";  // JSON object, as stored
  std::optional<Micros> cancel_requested_at;
  std::optional<std::string> cancel_requested_by;
};

// The newest run of a region that has ended, when its newest run is still running: what a
// page showing the region's health needs while a run is in flight.
struct EndedRun {
  std::string status;
  Micros scheduled_for{};
  std::optional<Micros> finished_at;
  std::optional<std::string> error;
};

// A region_index row with its policies, its state and its latest run.
struct RegionView {
  std::int64_t id = 0;
  std::string code;
  std::string name;
  std::string cron_schedule;
  std::string timezone;
  bool active = true;
  std::vector<std::string> handlers;
  std::optional<std::string> tick_sql;
  Micros updated_at{};
  // Policies (sql/004_policies.sql); NULL columns as nullopt (tickd's defaults apply).
  std::optional<int> timeout_ms;
  int max_attempts = 1;
  int retry_backoff_ms = 10000;
  std::string overlap = "skip";
  std::optional<int> start_window_ms;
  int jitter_ms = 0;
  std::optional<Micros> paused_at;
  std::optional<std::string> paused_by;
  std::optional<std::string> paused_reason;
  std::optional<RunView> last_run;     // newest by scheduled_for
  std::optional<EndedRun> last_ended;  // only when last_run is running
  std::int64_t pending_requests = 0;   // manual and backfill runs not started yet
};

// A row of region_audit.
struct AuditView {
  std::int64_t id = 0;
  std::int64_t region_id = 0;
  std::string code;
  std::string op;  // INSERT, UPDATE, DELETE, pause, resume, trigger, backfill, cancel
  Micros at{};
  std::string actor;
  std::optional<std::string> old_values;  // JSON, as stored
  std::optional<std::string> new_values;  // JSON, as stored
};

// A replica with a fresh heartbeat (younger than TICK_LEASE_MS).
struct ReplicaView {
  std::string replica_id;
  Micros heartbeat_at{};
  std::optional<std::string> version;
  std::int64_t running = 0;  // job_run rows running under this replica id
};

// Where a page of runs starts: below this run, in the pages' order.
struct RunCursor {
  Micros scheduled_for{};
  std::int64_t id = 0;
};

// Which runs, newest first by instant (scheduled_for, then id: the runs of one instant,
// newest claim first), all regions' or one region's. A page starts below the last run of the
// previous one: given as `cursor` (its instant and id), or as `before` (its id, looked up
// first: a `before` that names no run gives an empty page), not both. Either way a page reads
// its own rows and the older day partitions are not read, whatever the history
// (sql/010_history_reads.sql).
struct RunFilter {
  std::optional<std::string> code;  // one region (ControlError not_found when unknown)
  std::optional<std::string> status;
  std::optional<Micros> since;  // scheduled_for at or after
  std::optional<std::int64_t> before;
  std::optional<RunCursor> cursor;
  int limit = 50;  // 1-1000
};

// What an action did, for the CLI and the API to report.
struct ActionResult {
  std::int64_t region_id = 0;
  std::string code;
  std::string message;                     // one line for people
  std::optional<std::int64_t> run_id;      // cancel: the run cancelled
  std::optional<std::int64_t> request_id;  // trigger: the request
  std::vector<Micros> instants;            // backfill: the instants asked for (dry run too)
  std::size_t already_run = 0;             // backfill: instants left alone (a row exists)
};

class ControlStore final {
 public:
  static constexpr std::chrono::milliseconds kStatementTimeout{5000};
  static constexpr std::size_t kMaxBackfill = 10'000;

  ControlStore(std::string database_url,
               std::chrono::milliseconds statement_timeout = kStatementTimeout,
               unsigned connections = 2);
  ~ControlStore();
  ControlStore(const ControlStore&) = delete;
  ControlStore& operator=(const ControlStore&) = delete;

  // --- views (src/db/control_reads.cpp) ---
  std::vector<RegionView> regions();                          // every region, by code
  std::optional<RegionView> region(const std::string& code);  // nullopt: no such code
  // A page of a long list in one snapshot, read in two steps so that a page costs little
  // more at 100,000 regions than its own rows: every region's keys, the columns its state
  // and health depend on (id, code, cron_schedule, timezone, active, updated_at, the
  // policies, paused_at; last_run with only its status and scheduled_for, last_ended with
  // only its status; nothing else), in no order; then the full views of the ids that
  // `pick` chooses among them, in its order (an id that is not a region is left out).
  using RegionPicker =
      std::function<std::vector<std::int64_t>(const std::vector<RegionView>& keys)>;
  std::vector<RegionView> pick_regions(const RegionPicker& pick);
  std::vector<RunView> runs(const RunFilter& filter);
  std::optional<RunView> run(std::int64_t id);
  std::vector<AuditView> audit(std::int64_t region_id, int limit);  // newest first
  std::vector<ReplicaView> replicas(std::chrono::milliseconds fresh);

  // --- actions (src/db/control_actions.cpp); `by` names who acted (region_audit.actor) ---
  ActionResult pause(const std::string& code, const std::optional<std::string>& reason,
                     const std::string& by);
  ActionResult resume(const std::string& code, const std::string& by);
  // One run now, as trigger 'manual'. Refused while a tick of the region runs and its
  // overlap is `skip`.
  ActionResult trigger(const std::string& code, const std::string& by);
  // One run per instant of the region's schedule in [from, to), oldest first, one at a
  // time; instants with a row already are left alone. More than kMaxBackfill is refused.
  ActionResult backfill(const std::string& code, Micros from, Micros to, bool dry_run,
                        const std::string& by);
  // Asks the replica running the region's tick to stop it: it ends `cancelled`.
  ActionResult cancel(const std::string& code, const std::string& by);
  // The request's run, once it has one: nullopt while pending; a run view once started;
  // ControlError(conflict) with its error when it was skipped.
  std::optional<RunView> request_run(std::int64_t request_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// RFC 3339 UTC with microseconds trimmed to what is there: 2026-03-08T10:00:00Z,
// 2026-03-08T10:00:00.25Z.
std::string format_time(Micros t);
// RFC 3339 (`2026-03-08T10:00:00Z`, `...+01:00`; a fraction is dropped) or a date
// (`2026-03-08`, its UTC midnight); otherwise why it is neither.
std::variant<Micros, std::string> parse_time(std::string_view text);

}  // namespace tickd
