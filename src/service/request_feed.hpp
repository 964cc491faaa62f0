#pragma once
// What operators ask of the running replicas (sql/005_control.sql), on the event loop:
// - run requests (manual and backfill runs): started in free slots of the dispatcher when
//   tickd_control says some were added, and looked for every second anyway (a lost
//   notification costs at most that); each is claimed in the database with its job_run row
//   (Database::start_requests), then runs like a taken-over tick: at once, no jitter;
// - cancels: handed to the TickRunner when notified, and looked for every second among
//   the runs in progress here (a cancel asked before its run started here, or whose
//   notification was lost);
// - requested runs left running by a dead replica (from the liveness round): taken over and
//   run again (attempt + 1) with their region's row as it is now, whatever its state, as
//   long as a slot is free (otherwise a later round finds them again).
// Database work runs through `offload`.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "liveness_loop.hpp"  // LivenessLoop::Slots
#include "tickd/db/database.hpp"
#include "tickd/dispatch/tick_runner.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/util/timer.hpp"

namespace tickd {

class RequestFeed final {
 public:
  static constexpr std::chrono::seconds kPollInterval{1};
  static constexpr std::size_t kMaxBatch = 16;  // requests started per look

  RequestFeed(Offload loop, Offload offload, Database& db, TickRunner& runner,
              std::unique_ptr<LivenessLoop::Slots> slots, const HandlerRegistry& handlers,
              Timers& timers, Metrics& metrics, std::string replica_id);
  void start();
  // From the change feed: run requests were added, or these runs' cancels asked for.
  void notified(bool requests, std::vector<std::int64_t> cancels);
  void take_over(std::vector<Orphan> orphans);
  void stop();

 private:
  void poll();
  void look_for_requests();
  void look_for_cancels(std::vector<std::int64_t> run_ids);
  // The requested runs as ticks; ends at once (failed) those whose region is invalid.
  std::vector<DueTick> ticks_of(std::vector<Database::RequestedRun> runs);

  Offload loop_;
  Offload offload_;
  Database& db_;
  TickRunner& runner_;
  std::unique_ptr<LivenessLoop::Slots> slots_;
  const HandlerRegistry& handlers_;
  Metrics& metrics_;
  std::unique_ptr<Timer> poll_;
  std::string replica_id_;
  bool looking_ = false;  // a look for requests is in flight
  bool again_ = false;    // notified meanwhile: look again when it returns
  bool stopped_ = false;
};

}  // namespace tickd
