#pragma once
// The Prometheus metrics of the contract (spec: "HTTP" / GET /metrics). Every series
// exists from construction (counters at 0). All methods are thread-safe.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace tickd {

enum class TickOutcome { ran, failed, lost, skipped, missed, abandoned };
std::string_view to_string(TickOutcome);

class Metrics final {
 public:
  explicit Metrics(std::string version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void set_schedules(std::size_t n);
  void set_invalid_schedules(std::size_t n);
  void count_tick(TickOutcome outcome);
  void count_claim_attempt();                   // tickd_claim_attempts_total
  void count_fenced();  // tickd_fenced_writes_total: a result refused because the row was abandoned
  void observe_lateness(double seconds);        // tickd_tick_lateness_seconds
  void observe_handler(std::string_view handler, double seconds);  // tickd_handler_duration_seconds{handler}
  void count_reconcile(bool ok, double seconds);  // tickd_reconcile_total + _duration_seconds
  void set_inflight(std::size_t n);
  void set_db_up(bool up);

  // Prometheus text format 0.0.4, including process_cpu_seconds_total,
  // process_resident_memory_bytes and process_start_time_seconds; ends with a newline.
  std::string serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickd
