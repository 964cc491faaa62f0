#pragma once
// The /status document (spec: GET /status).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tickd/schedule/policy.hpp"
#include "tickd/schedule/run_status.hpp"

namespace tickd {

struct RegionStatus {
  std::string code;
  std::string cron_schedule;
  std::string timezone;
  std::optional<std::chrono::sys_seconds> next_fire;
  std::optional<RunStatus> last_outcome;  // job_run status of the last tick seen here
  std::optional<std::chrono::sys_seconds> last_scheduled_for;
  std::optional<Pause> pause{};  // set while paused (then next_fire is null)
};

struct InvalidRegion {
  std::string code;
  std::string error;
};

struct StatusSnapshot {
  std::string replica_id;
  std::vector<RegionStatus> regions;
  std::vector<InvalidRegion> invalid;
};

// {"replica_id": "...", "regions": [...], "invalid": [...]}, instants as RFC 3339 UTC
// ("2026-03-08T10:00:00Z"), absent values as null; strings JSON-escaped.
std::string render_status_json(const StatusSnapshot& s);

}  // namespace tickd
