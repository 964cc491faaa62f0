#pragma once
// Ticks from claim to recorded end, off the event loop. run_group() claims a group of
// ticks of one instant with one statement (see Database::claim_batch), then runs each
// won tick's handlers, in order, as its own task on the worker pool, and hands the end
// to the Finisher. `done` is called exactly once per tick, from some worker thread.
//
// A group may be claimed ahead of its instant (CLAIM_AHEAD_MS): its won ticks then wait
// on a timer and their handlers start at the instant, never before.

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "tickd/config/config.hpp"
#include "tickd/dispatch/finisher.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/notify/pinger.hpp"
#include "tickd/schedule/schedule.hpp"
#include "tickd/util/clock.hpp"

namespace boost::asio {
class thread_pool;
}

namespace tickd {

class Database;

struct TickReport {
  TickOutcome outcome;
  std::optional<RunStatus> status{};  // the job_run status written, when claimed here
  bool db_unavailable = false;        // the claim could not reach the database
  // Not claimed because the region's previous tick was still running, and worth another
  // try: claimed ahead of its instant (try again at the instant), or its region's overlap
  // is buffer_one (try again shortly, until its start deadline). Nothing was written or
  // counted: claim it again at this time.
  std::optional<Millis> claim_again_at{};
};

// A tick buffered by overlap = buffer_one tries its claim again this often while the
// region's previous tick runs (on whichever replica), until its start deadline.
inline constexpr std::chrono::milliseconds kBufferedRetry{100};

class TickRunner final {
 public:
  using Done = std::function<void(const DueTick&, TickReport)>;

  // Claims, ends and the incarnation go through `store`; handlers get `db` (TickContext).
  TickRunner(TickStore& store, Database& db, const HandlerRegistry& handlers, Metrics& metrics,
             const Clock& clock, const Config& config, boost::asio::thread_pool& workers,
             std::size_t worker_threads);

  // All `ticks` share one instant. Ticks marked `precheck` skip the claim when a row for
  // them already exists (another replica, their owner, has them): no claim attempt.
  void run_group(std::vector<DueTick> ticks, std::stop_token stop, Done done);

  // Reads, once, the database's clock before this process's first claim: rows of this
  // replica id claimed before it were left by an earlier process (orphans for the
  // takeover). Called before the first claim and by each liveness round until it is
  // known; throws DbError while the database is unreachable.
  std::chrono::system_clock::time_point begin_incarnation();

  // The ticks whose claim came back in doubt (the connection was lost: their row may
  // exist) since the last call; the liveness round looks for their rows. Give them back
  // when the round failed.
  using TickKey = std::pair<std::int64_t, std::chrono::sys_seconds>;

  // This replica's heartbeat was renewed (a liveness round ended) at `mono`. Claims wait
  // while the last renewal is older than `stale_after`: a replica that stalled (SIGSTOP, a
  // VM pause) is still judged dead by the others until its next heartbeat, and would have
  // what it claims now taken over at once.
  void heartbeat_renewed(std::chrono::steady_clock::time_point mono);
  void set_claims_stale_after(std::chrono::milliseconds stale_after);
  std::vector<TickKey> take_in_doubt();
  void restore_in_doubt(std::vector<TickKey> ticks);

  // An operator's cancel of the run `run_id`, by `by`: when it runs here, its handlers are
  // cut short (a statement cancelled on the server, transfers aborted, a retry's wait
  // ended) and it ends `cancelled`, with no further attempt. False: not running here, or
  // cancelled already.
  bool cancel(std::int64_t run_id, const std::string& by);
  // The runs in progress here (for the liveness round's look for missed cancels).
  std::vector<std::int64_t> running_ids() const;

  // Where the ping_url pings go (none: not sent). Set once, before the first tick.
  void set_pinger(Pinger* pinger) { pinger_ = pinger; }

 private:
  struct Won {
    DueTick tick;
    std::int64_t run_id;
  };
  // Starts each won tick (all of one instant) on the worker pool at its instant.
  void start_at_instant(std::vector<Won> won, std::chrono::steady_clock::time_point claimed_at,
                        std::stop_token stop, const Done& done);
  // One attempt of a won tick: its handlers, then its end, or (failed, with attempts left
  // before the region's next instant) a retry on the same row after the backoff. `retry`:
  // a later attempt (no lateness observed, no start deadline).
  void execute(DueTick tick, std::int64_t run_id, std::chrono::steady_clock::time_point claimed_at,
               std::stop_token stop, Done done, bool retry = false);
  struct Attempt {
    std::optional<std::string> error;  // none: every handler succeeded in time
    bool timed_out = false;            // past the attempt's timeout
    bool cancelled = false;            // an operator's cancel cut it short
    bool permanent = false;            // a handler said no attempt can succeed (HandlerError)
    std::optional<std::chrono::milliseconds> retry_after;  // the least wait a handler asked for
    std::string details;  // JSON object: each handler's figures, the lateness
  };
  Attempt run_handlers(const TickContext& context, double lateness);
  // Records the failed attempt and arms the next one; false when there is none (no attempt
  // left, the next instant too near, the row taken over, the database unreachable).
  bool retry_later(const DueTick& tick, std::int64_t run_id,
                   std::chrono::steady_clock::time_point claimed_at, std::stop_token stop,
                   const Done& done, const Attempt& failed);
  void finish(DueTick tick, std::int64_t run_id, Attempt attempt, Done done);
  void claim_and_start(std::vector<DueTick> ticks, std::stop_token stop, const Done& done);

  TickStore& store_;
  Database& db_;
  const HandlerRegistry& handlers_;
  Metrics& metrics_;
  const Clock& clock_;
  const Config& config_;
  boost::asio::thread_pool& workers_;
  const std::size_t worker_threads_;  // of `workers_`
  Finisher finisher_;
  Pinger* pinger_ = nullptr;
  std::mutex incarnation_mutex_;
  std::optional<std::chrono::system_clock::time_point> incarnation_;
  std::atomic<std::chrono::steady_clock::rep> renewed_{0};         // steady_clock ticks; 0: never
  std::chrono::milliseconds stale_after_{std::chrono::hours(24)};  // set by the service
  std::mutex in_doubt_mutex_;
  std::vector<TickKey> in_doubt_;
  // The runs in progress here, from their first attempt to their end, and the timer of
  // the retry each may be waiting for (a cancel ends the wait).
  struct InFlight {
    std::shared_ptr<Cancellation> cancellation;
    std::weak_ptr<boost::asio::steady_timer> retry_wait;
  };
  std::shared_ptr<Cancellation> in_flight(std::int64_t run_id);  // registers on first call
  void retire(std::int64_t run_id);
  void set_retry_wait(std::int64_t run_id, std::weak_ptr<boost::asio::steady_timer> timer);
  mutable std::mutex in_flight_mutex_;
  std::unordered_map<std::int64_t, InFlight> in_flight_;
};

}  // namespace tickd
