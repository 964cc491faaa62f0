#include "tickd/tick_runner.hpp"

#include <date/date.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "tickd/database.hpp"

namespace tickd {
namespace {

std::string json_escape(std::string_view s) {
  std::string out;
  for (const unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string iso(std::chrono::sys_seconds t) { return date::format("%FT%TZ", t); }

}  // namespace

TickReport TickRunner::run(const DueTick& tick, std::stop_token stop) {
  const auto& row = tick.region->row;
  Claim claim{};
  try {
    metrics_.count_claim_attempt();
    claim = db_.claim(row.id, tick.instant, config_.replica_id);
  } catch (const DbError& e) {
    spdlog::warn("region {}: tick {} not claimed: {}", row.code, iso(tick.instant), e.what());
    metrics_.count_tick(TickOutcome::skipped);
    return {TickOutcome::skipped, std::nullopt, e.unavailable()};
  }
  switch (claim.outcome) {
    case ClaimOutcome::taken:
      metrics_.count_tick(TickOutcome::lost);
      return {TickOutcome::lost, std::nullopt};
    case ClaimOutcome::overlapping:
      spdlog::info("region {}: tick {} skipped: the previous tick is still running", row.code,
                   iso(tick.instant));
      metrics_.count_tick(TickOutcome::skipped);
      return {TickOutcome::skipped, std::nullopt};
    case ClaimOutcome::gone:
      metrics_.count_tick(TickOutcome::skipped);
      return {TickOutcome::skipped, std::nullopt};
    case ClaimOutcome::won:
      break;
  }

  const auto started = clock_.wall();
  const double lateness = std::chrono::duration<double>(started - tick.instant).count();
  metrics_.observe_lateness(lateness);
  const TickContext context{row, tick.instant, db_, config_, stop};
  // details: {"<handler>": {"seconds": s, "ok": b, <counts>...}, ..., "lateness_seconds": l}
  std::string details = "{";
  std::string error;
  for (const auto& name : row.handlers) {
    const auto t0 = clock_.mono();
    HandlerCounts counts;
    try {
      counts = handlers_.find(name)->run(context);
    } catch (const std::exception& e) {
      error = "handler " + name + ": " + e.what();
    }
    const double seconds = std::chrono::duration<double>(clock_.mono() - t0).count();
    metrics_.observe_handler(name, seconds);
    details += "\"" + json_escape(name) + "\":{\"seconds\":" + std::to_string(seconds) +
               ",\"ok\":" + (error.empty() ? "true" : "false");
    for (const auto& [key, value] : counts) {
      details += ",\"" + json_escape(key) + "\":" + std::to_string(value);
    }
    details += "},";
    if (!error.empty()) break;
  }
  details += "\"lateness_seconds\":" + std::to_string(lateness) + "}";

  const bool ok = error.empty();
  if (!ok) spdlog::warn("region {}: tick {} failed: {}", row.code, iso(tick.instant), error);
  record_finish(claim.run_id, tick, ok, error, details);
  metrics_.count_tick(ok ? TickOutcome::ran : TickOutcome::failed);
  return {ok ? TickOutcome::ran : TickOutcome::failed, ok ? "ok" : "failed"};
}

bool TickRunner::record_finish(std::int64_t run_id, const DueTick& tick, bool ok,
                               const std::string& error, const std::string& details) {
  const auto& code = tick.region->row.code;
  // The row must not stay `running` while this replica lives (its heartbeat keeps the
  // row from being abandoned), so a lost connection is retried for a while.
  const auto give_up = clock_.mono() + config_.tick_lease;
  for (auto pause = std::chrono::milliseconds(100);; pause = std::min(pause * 2, std::chrono::milliseconds(2000))) {
    try {
      if (!db_.finish(run_id, config_.replica_id, ok ? RunStatus::ok : RunStatus::failed, error,
                      details)) {
        spdlog::error(
            "region {}: tick {} lost its claim: the row was marked abandoned meanwhile; "
            "its result was not written",
            code, iso(tick.instant));
        metrics_.count_fenced();
        return false;
      }
      return true;
    } catch (const DbError& e) {
      if (clock_.mono() >= give_up) {
        spdlog::error("region {}: tick {}: could not record its end: {}", code,
                      iso(tick.instant), e.what());
        return false;
      }
      std::this_thread::sleep_for(pause);
    }
  }
}

}  // namespace tickd
