#pragma once
// What became of a tick, in the two words the system uses for it: the status a claimed tick's
// job_run row ends with, and the outcome a replica counts in tickd_ticks_total.

#include <cstdint>
#include <string_view>

namespace tickd {

// job_run.status of a claimed tick that ran here to its end (spec: 'ok' or 'failed'; the
// other statuses, running and abandoned, are written by the claim and by a takeover).
// cancelled: an operator's cancel stopped it (`tickd region cancel`).
enum class RunStatus : std::uint8_t { ok, failed, cancelled };

constexpr std::string_view to_string(RunStatus s) {
  switch (s) {
    case RunStatus::ok:
      return "ok";
    case RunStatus::failed:
      return "failed";
    case RunStatus::cancelled:
      return "cancelled";
  }
  return "failed";
}

// tickd_ticks_total{outcome} (README, metrics): ran and failed end a tick claimed here with
// RunStatus ok and failed; lost, skipped, missed and abandoned end it without running here.
enum class TickOutcome : std::uint8_t { ran, failed, lost, skipped, missed, abandoned };

constexpr std::string_view to_string(TickOutcome o) {
  switch (o) {
    case TickOutcome::ran:
      return "ran";
    case TickOutcome::failed:
      return "failed";
    case TickOutcome::lost:
      return "lost";
    case TickOutcome::skipped:
      return "skipped";
    case TickOutcome::missed:
      return "missed";
    case TickOutcome::abandoned:
      return "abandoned";
  }
  return "unknown";
}

}  // namespace tickd
