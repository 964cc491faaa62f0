#pragma once
// The Prometheus metrics of the contract (spec: "HTTP" / GET /metrics). Every series
// exists from construction (counters at 0). All methods are thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tickd/db/queue.hpp"
#include "tickd/schedule/run_status.hpp"

namespace tickd {

// The database connection pools (Database): claims, ends, heartbeats and loads, and the
// handlers' own statements.
enum class DbPool { bookkeeping, handlers };
std::string_view to_string(DbPool);

// What became of a queue job this replica worked (released: handed back at shutdown).
enum class QueueResult { completed, retried, failed, released };
std::string_view to_string(QueueResult);

// An object storage request; remove's label is "delete", fetch is an HTTP(S) download.
enum class StorageOp { put, get, head, list, remove, fetch };
std::string_view to_string(StorageOp);

enum class Transfer { upload, download };
std::string_view to_string(Transfer);
// How one attempt of a tick claimed here ended (a tick retried after a failure has several).
enum class AttemptResult { ok, failed, timed_out };

inline constexpr std::array<std::string_view, 3> kNotificationResults = {"delivered", "failed",
                                                                         "expired"};
std::string_view to_string(AttemptResult);

class Metrics final {
 public:
  explicit Metrics(std::string version);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void set_schedules(std::size_t n);
  void set_invalid_schedules(std::size_t n);
  void set_paused_schedules(std::size_t n);  // tickd_paused_schedules
  void count_tick(TickOutcome outcome);
  void count_claim_attempt();  // tickd_claim_attempts_total
  // tickd_tick_attempts_total{result}: every attempt of a tick run here, retries included
  // (tickd_ticks_total counts each tick once, by how it ended).
  void count_attempt(AttemptResult result);
  void count_rerun();   // tickd_ticks_rerun_total: a dead replica's tick taken over and run again
  void count_fenced();  // tickd_fenced_writes_total: a result refused because the row was abandoned
  void observe_lateness(double seconds);  // tickd_tick_lateness_seconds
  void observe_handler(std::string_view handler,
                       double seconds);           // tickd_handler_duration_seconds{handler}
  void count_reconcile(bool ok, double seconds);  // tickd_reconcile_total + _duration_seconds
  void count_rearmed(std::size_t regions);        // tickd_reconcile_rearmed_total
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
  // Sets every known series to `rows(queue, status)`; others are not invented.
  using QueueRows = std::function<double(std::string_view queue, std::string_view status)>;
  void set_queue_jobs(const QueueRows& rows);
  void count_queue_attempt(Queue queue, QueueResult result);  // tickd_queue_job_attempts_total
  // tickd_storage_requests_total{op,result}: result ok or error (each attempt of a retried
  // request counts).
  void count_storage_request(StorageOp op, bool ok);
  void count_storage_bytes(Transfer direction, std::uint64_t bytes);  // tickd_storage_bytes_total

  // Notifications (sql/006): tickd_notifications_total{event,result}, result one of
  // kNotificationResults; tickd_notification_outbox_depth and _oldest_seconds, sampled.
  void count_notification(std::string_view event, std::string_view result);
  void set_notification_outbox(std::size_t depth, double oldest_seconds);

  // Prometheus text format 0.0.4, including process_cpu_seconds_total,
  // process_resident_memory_bytes and process_start_time_seconds; ends with a newline.
  std::string serialize() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tickd
