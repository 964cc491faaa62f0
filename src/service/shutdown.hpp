#pragma once
// Shutdown, once begun (SIGTERM/SIGINT): every part stops taking work (`stop`, which
// returns how many waiting ticks it dropped) but the heartbeat, ticks in flight get
// SHUTDOWN_GRACE_MS, then the heartbeat stops (`end_heartbeat`, on the loop), the shutdown
// is recorded in the database off the loop (`record`: rows still running marked failed, the
// heartbeat row removed) and `done` runs on the loop (close the feed, stop HTTP and the
// loop). It finishes once, at the grace's end or when the last tick in flight
// is done, whichever comes first. Lives on the event loop.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "tickd/db/database.hpp"
#include "tickd/util/timer.hpp"

namespace tickd {

class Shutdown final {
 public:
  struct Hooks {
    std::function<std::size_t()> stop;      // stops the parts; returns the ticks dropped
    std::function<std::size_t()> inflight;  // ticks claimed and not yet done
    std::function<void()> end_heartbeat;    // on the loop, just before `record`
    std::function<void()> record;           // blocking; runs through `offload`
    std::function<void()> done;
  };

  Shutdown(boost::asio::io_context& loop, Offload offload, Timers& timers,
           std::chrono::milliseconds grace, Hooks hooks);

  void begin(int signal);
  // A tick in flight is done: finishes when it was the last one after begin().
  void tick_done();
  bool stopping() const { return stopping_; }

 private:
  void finish();

  boost::asio::io_context& loop_;
  Offload offload_;
  std::unique_ptr<Timer> grace_timer_;
  const std::chrono::milliseconds grace_;
  Hooks hooks_;
  bool stopping_ = false;
  bool finishing_ = false;
};

// Marks this replica's rows still running failed (the shutdown's reason names `grace`) and
// removes its heartbeat row; logs, and does not throw, when the database cannot be reached.
void record_shutdown(Database& db, const std::string& replica_id, std::chrono::milliseconds grace);

}  // namespace tickd
