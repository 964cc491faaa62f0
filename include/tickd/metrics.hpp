#pragma once
// The Prometheus metrics of the contract (spec: "HTTP" / GET /metrics). Every series
// exists from construction (counters at 0). All methods are thread-safe.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tickd {

enum class TickOutcome { ran, failed, lost, skipped, missed, abandoned };
std::string_view to_string(TickOutcome);

// The database connection pools (Database): claims, ends, heartbeats and loads, and the
// handlers' own statements.
enum class DbPool { bookkeeping, handlers };
std::string_view to_string(DbPool);

class Metrics final {
 public:
  explicit Metrics(std::string version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void set_schedules(std::size_t n);
  void set_invalid_schedules(std::size_t n);
  void count_tick(TickOutcome outcome);
  void count_claim_attempt();  // tickd_claim_attempts_total
  void count_rerun();   // tickd_ticks_rerun_total: a dead replica's tick taken over and run again
  void count_fenced();  // tickd_fenced_writes_total: a result refused because the row was abandoned
  void observe_lateness(double seconds);  // tickd_tick_lateness_seconds
  void observe_handler(std::string_view handler,
                       double seconds);           // tickd_handler_duration_seconds{handler}
  void count_reconcile(bool ok, double seconds);  // tickd_reconcile_total + _duration_seconds
  void set_inflight(std::size_t n);
  void set_concurrency_limit(std::size_t n);  // tickd_concurrency_limit
  void set_regions_overdue(std::size_t n);    // tickd_regions_overdue
  void set_db_up(bool up);

  // tickd_db_pool_wait_seconds{pool}: from acquire() to the caller's turn for a connection.
  void observe_db_pool_wait(DbPool pool, double seconds);
  void set_db_pool_in_use(DbPool pool, std::size_t n);  // tickd_db_pool_in_use{pool}
  void set_db_pool_size(DbPool pool, std::size_t n);    // tickd_db_pool_size{pool}

  // The work queues and object storage (issue: sync, upload, publish).
  // tickd_queue_jobs{queue,status}: rows per status, sampled on a timer. queue is upload,
  // publish or file_upload; status is the table's own spelling (PENDING, pending, ...).
  void set_queue_jobs(std::string_view queue, std::string_view status, double n);
  // tickd_queue_job_attempts_total{queue,result}: result is completed, retried, failed or
  // released (handed back at shutdown).
  void count_queue_attempt(std::string_view queue, std::string_view result);
  // tickd_storage_requests_total{op,result}: op is put, get, head, list, delete or fetch;
  // result ok or error (each attempt of a retried request counts).
  void count_storage_request(std::string_view op, bool ok);
  // tickd_storage_bytes_total{direction}: upload or download.
  void count_storage_bytes(std::string_view direction, std::uint64_t bytes);

  // Prometheus text format 0.0.4, including process_cpu_seconds_total,
  // process_resident_memory_bytes and process_start_time_seconds; ends with a newline.
  std::string serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickd
