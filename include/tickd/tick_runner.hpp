#pragma once
// One tick, start to end, on a worker thread: claim it, run the region's handlers in
// order, record the outcome in its job_run row. Blocking; never called on the event loop.

#include <optional>
#include <stop_token>
#include <string>

#include "tickd/clock.hpp"
#include "tickd/config.hpp"
#include "tickd/handler.hpp"
#include "tickd/metrics.hpp"
#include "tickd/schedule.hpp"

namespace tickd {

class Database;

struct TickReport {
  TickOutcome outcome;
  std::optional<std::string> status;  // the job_run status written, when claimed here
  bool db_unavailable = false;        // the claim could not reach the database
};

class TickRunner final {
 public:
  TickRunner(Database& db, const HandlerRegistry& handlers, Metrics& metrics,
             const Clock& clock, const Config& config)
      : db_(db), handlers_(handlers), metrics_(metrics), clock_(clock), config_(config) {}

  TickReport run(const DueTick& tick, std::stop_token stop = {});

 private:
  bool record_finish(std::int64_t run_id, const DueTick& tick, bool ok, const std::string& error,
                     const std::string& details);

  Database& db_;
  const HandlerRegistry& handlers_;
  Metrics& metrics_;
  const Clock& clock_;
  const Config& config_;
};

}  // namespace tickd
