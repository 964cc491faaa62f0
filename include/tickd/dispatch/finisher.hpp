#pragma once
// Writes the ends of ticks (job_run status, error, details) in batches: one thread takes
// whatever has queued up since its last statement and writes it in one UPDATE, so a quiet
// replica writes each end at once and a burst of thousands costs a handful of
// statements. A lost connection is retried with backoff for as long as the database is
// unreachable (the row stays this replica's meanwhile); an end that failed for another
// reason, or while stopping, for longer than TICK_LEASE_MS is given up (logged) and
// reported as not written.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tickd/dispatch/tick_store.hpp"
#include "tickd/util/clock.hpp"

namespace tickd {

class Finisher final {
 public:
  enum class Result {
    written,
    fenced,   // the row was no longer this replica's running row (marked abandoned)
    gave_up,  // a statement error, or stopping, for longer than TICK_LEASE_MS (logged)
  };
  // Called on the finisher thread.
  using Callback = std::function<void(Result)>;

  // Waits between tries: std::this_thread::sleep_for unless given (tests move a clock).
  using Pause = std::function<void(std::chrono::milliseconds)>;

  Finisher(TickStore& store, std::string replica_id, std::chrono::milliseconds give_up_after,
           const Clock& clock, Pause pause = {});
  ~Finisher();  // writes what is queued, then stops
  Finisher(const Finisher&) = delete;
  Finisher& operator=(const Finisher&) = delete;

  void submit(Database::Finish finish, Callback done);

 private:
  struct Item {
    Database::Finish finish;
    Callback done;
    std::chrono::steady_clock::time_point since;
  };
  void loop();

  TickStore& store_;
  const std::string replica_id_;
  const std::chrono::milliseconds give_up_after_;
  const Clock& clock_;
  const Pause pause_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Item> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tickd
