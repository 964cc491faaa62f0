#pragma once
// Handlers: the named steps a region's tick runs, in the order its `handlers` column
// lists them. A handler throws to fail the tick; the dispatcher records the error text.
// Handlers run on worker threads, never on the event loop.

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tickd/config/config.hpp"
#include "tickd/schedule/region.hpp"
#include "tickd/util/cancellation.hpp"

namespace tickd {

class Database;
class Metrics;
struct RunRef;

struct TickContext {
  const RegionRow& region;
  // The run's job_run.scheduled_for: the instant, or a manual run's request time.
  std::chrono::sys_time<std::chrono::microseconds> scheduled_for;
  Database& db;
  const Config& config;
  std::stop_token stop;  // requested at shutdown: finish or hand work back quickly
  // When this replica's claim of the tick came back from the database (monotonic).
  std::chrono::steady_clock::time_point claimed_at{};
  // The job_run row and attempt this tick runs as (tick_sql marks it when it commits).
  const RunRef* run = nullptr;
  // The attempt's timeout (timeout_ms, else TICK_TIMEOUT_MS) ends here (monotonic): the
  // attempt fails past it, so handlers start no new work then and bound their waits by
  // remaining().
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  bool timed_out() const { return std::chrono::steady_clock::now() >= deadline; }
  // Set while the tick runs: an operator's cancel (the tick then ends `cancelled`).
  Cancellation* cancellation = nullptr;
  bool cancelled() const { return cancellation != nullptr && cancellation->requested(); }
  // Timed out or cancelled: abort what is in progress (a transfer), not only what is next.
  bool cut_short() const { return timed_out() || cancelled(); }
  // Shutdown, the attempt's timeout or a cancel: hand back what is not started.
  bool should_stop() const { return stop.stop_requested() || cut_short(); }
  // Until the attempt's deadline (0 once past it).
  std::chrono::milliseconds remaining() const;
};

// What a handler did, as counts recorded under its name in job_run.details, e.g.
// {"upload": {"seconds": 0.4, "claimed": 5, "completed": 4}}.
using HandlerCounts = std::vector<std::pair<std::string, std::int64_t>>;

// A handler's failure that says how the tick treats it (any other exception is `retry`).
class HandlerError : public std::runtime_error {
 public:
  enum class Retry {
    policy,  // as the region's max_attempts and backoff say
    never,   // permanent (an HTTP 404, say): no further attempt, whatever max_attempts allows
  };
  explicit HandlerError(const std::string& what, Retry retry = Retry::policy,
                        std::optional<std::chrono::milliseconds> retry_after = std::nullopt)
      : std::runtime_error(what), retry_(retry), retry_after_(retry_after) {}
  Retry retry() const { return retry_; }
  // The least wait before the next attempt, when the peer said (HTTP Retry-After).
  std::optional<std::chrono::milliseconds> retry_after() const { return retry_after_; }

 private:
  Retry retry_;
  std::optional<std::chrono::milliseconds> retry_after_;
};

// Figures a handler adds to its own object in job_run.details beyond counts, as JSON values
// (written with json::Writer), e.g. {"status", "404"}; kept also when it throws.
struct HandlerNotes {
  std::vector<std::pair<std::string, std::string>> values;  // key, JSON value
  void add(std::string key, std::string json_value) {
    values.emplace_back(std::move(key), std::move(json_value));
  }
};

class Handler {
 public:
  virtual ~Handler() = default;
  // Why `row` cannot run this handler (its column is missing or malformed, say), if it
  // cannot; checked whenever the region is (re)validated. Blocking work is not allowed.
  virtual std::optional<std::string> check(const RegionRow& /*row*/) const { return std::nullopt; }
  // A handler overrides exactly one of the two run()s: this one, or the one with notes
  // when it has more to say than counts (each calls the other by default).
  virtual HandlerCounts run(const TickContext& tick) {
    HandlerNotes ignored;
    return run(tick, ignored);
  }
  // Safe to run again after a crash whatever max_attempts says (idempotent, or exactly
  // once by its own means). `http` and `command` are not: they repeat only while
  // max_attempts allows another attempt.
  virtual bool repeatable() const { return true; }
  // As run(), with notes (values added to the handler's object in job_run.details).
  virtual HandlerCounts run(const TickContext& tick, HandlerNotes& /*notes*/) { return run(tick); }
};

// Handlers by name. Filled at start, read-only afterwards (so reads need no lock).
class HandlerRegistry final {
 public:
  void add(std::string name, std::unique_ptr<Handler> handler);
  Handler* find(std::string_view name) const;
  // Why `row` cannot run (its handler list is empty or names an unknown handler, or a
  // handler refuses the row), if it cannot.
  std::optional<std::string> check(const RegionRow& row) const;
  // Whether every handler of `row` is repeatable() (a crashed tick may run again).
  bool repeatable(const RegionRow& row) const;

 private:
  std::map<std::string, std::unique_ptr<Handler>, std::less<>> handlers_;
};

// `region`: a database keepalive, then the region's tick_sql when set, in its own
// transaction under TICK_SQL_TIMEOUT_MS. The claim that just came back is itself a round
// trip to the database, so the keepalive is only sent when the claim is older than a
// second (a tick that waited for a worker); at 20,000 aligned ticks this halves the
// statements a burst costs.
std::unique_ptr<Handler> make_region_handler();

// `http`: one HTTP request per tick, as the region's `http` column says
// (tickd/handlers/http_spec.hpp); HTTP_ALLOWED_HOSTS and HTTP_ENV_ALLOW from `config` limit it.
std::unique_ptr<Handler> make_http_handler(const Config& config);

// `command`: runs the region's `command` argv (no shell) from COMMAND_DIR, with tickd's
// environment minus its secrets plus TICKD_REGION_ID, TICKD_REGION_CODE, TICKD_SCHEDULED_FOR,
// TICKD_RUN_ID and TICKD_ATTEMPT; exit 0 is success, any other end a HandlerError (retried as
// the region's policy says). check() refuses a row whose argv[0] is not a regular executable
// file directly inside COMMAND_DIR (no '/', no symlink), or when COMMAND_DIR is not set.
// Details: exit_code, signal, pid, the last 4 KiB of stdout and stderr, their sizes. The
// timeout, a cancel and shutdown send SIGTERM to the command's process group, SIGKILL 5 s
// later; when the command exits, what is left of its group is killed: its background
// processes do not outlive its tick.
std::unique_ptr<Handler> make_command_handler(const Config& config);

// The registry with every handler tickd ships: region, http, command, sync, upload, publish
// and housekeeping. The work handlers keep a copy of `config` (storage, leases, limits) and
// count into `metrics` when given; with a DATABASE_URL they also start the replica's maintenance
// thread (queue gauges every 15 s, housekeeping every hour), stopped with the registry.
HandlerRegistry builtin_handlers(const Config& config = {}, Metrics* metrics = nullptr);

}  // namespace tickd
