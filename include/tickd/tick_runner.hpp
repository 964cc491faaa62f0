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
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "tickd/clock.hpp"
#include "tickd/config.hpp"
#include "tickd/finisher.hpp"
#include "tickd/handler.hpp"
#include "tickd/metrics.hpp"
#include "tickd/schedule.hpp"

namespace tickd {

class Database;

struct TickReport {
  TickOutcome outcome;
  std::optional<std::string> status;  // the job_run status written, when claimed here
  bool db_unavailable = false;        // the claim could not reach the database
  // Claimed ahead of its instant while the region's previous tick was still running:
  // nothing was written or counted; claim it again at its instant.
  bool claim_at_instant = false;
};

class TickRunner final {
 public:
  using Done = std::function<void(const DueTick&, TickReport)>;

  TickRunner(Database& db, const HandlerRegistry& handlers, Metrics& metrics, const Clock& clock,
             const Config& config, boost::asio::thread_pool& workers, std::size_t worker_threads);

  // All `ticks` share one instant. Ticks marked `precheck` skip the claim when a row for
  // them already exists (another replica, their owner, has them): no claim attempt.
  void run_group(std::vector<DueTick> ticks, std::stop_token stop, Done done);

  // Marks the rows an earlier, dead run of this replica id left `running` abandoned, once.
  // Runs before this process's first claim (so it can never touch a row of ours), and from
  // the first heartbeat; throws DbError while the database is unreachable.
  void clear_earlier_runs();

 private:
  struct Won {
    DueTick tick;
    std::int64_t run_id;
  };
  // Starts each won tick (all of one instant) on the worker pool at its instant.
  void start_at_instant(std::vector<Won> won, std::chrono::steady_clock::time_point claimed_at,
                        std::stop_token stop, const Done& done);
  // Calls `then` on a worker thread once the wall clock reads `instant` or later.
  void wait_until(std::shared_ptr<boost::asio::steady_timer> timer,
                  std::chrono::sys_seconds instant, std::function<void()> then);
  void execute(DueTick tick, std::int64_t run_id, std::chrono::steady_clock::time_point claimed_at,
               std::stop_token stop, Done done);

  Database& db_;
  const HandlerRegistry& handlers_;
  Metrics& metrics_;
  const Clock& clock_;
  const Config& config_;
  boost::asio::thread_pool& workers_;
  const std::size_t worker_threads_;  // of `workers_`
  Finisher finisher_;
  std::mutex clear_mutex_;
  std::atomic<bool> cleared_{false};
};

}  // namespace tickd
