#pragma once
// `tickd run`: wires the components on one Asio event loop.
//
// The loop thread owns the schedule, the dispatcher's queue, the HTTP endpoints and
// every timer; it never blocks on the database. Blocking database work runs on four
// pools: `control_` (reconcile reads, the change listener's connect), `liveness_thread_`
// (heartbeats and takeovers), `claimers_` (claims) and `workers_` (handlers), so slow
// handlers delay neither the timers, nor a reconcile, nor a heartbeat, nor the next
// instant's claims.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <optional>
#include <stop_token>

#include "tickd/change_listener.hpp"
#include "tickd/clock.hpp"
#include "tickd/config.hpp"
#include "tickd/database.hpp"
#include "tickd/dispatcher.hpp"
#include "tickd/handler.hpp"
#include "tickd/http_server.hpp"
#include "tickd/liveness.hpp"
#include "tickd/metrics.hpp"
#include "tickd/ownership.hpp"
#include "tickd/schedule.hpp"
#include "tickd/tick_runner.hpp"

namespace tickd {

class Service final {
 public:
  Service(Config config, const Clock& clock);
  ~Service();
  int run();  // until SIGTERM/SIGINT; returns the exit status

 private:
  // Reconcile: one at a time; requests made meanwhile are merged into the next.
  void request_reconcile(std::optional<std::vector<std::int64_t>> ids);
  void start_reconcile();
  void finish_reconcile(std::optional<std::vector<std::int64_t>> scope, std::vector<RegionRow> rows,
                        double seconds);
  void reconcile_failed(const std::string& error, double seconds);

  void connect_listener();
  void wait_for_notifications();
  void listener_lost(const std::string& error);

  void arm_tick_timer();
  void on_tick_timer();
  void arm_refresh_timer();
  void liveness();
  void liveness_done(bool ok, std::chrono::steady_clock::time_point began,
                     std::chrono::steady_clock::time_point ended, bool looked_for_earlier_runs,
                     Database::LivenessResult result);
  // Orphans of dead replicas: run again (attempt + 1) what can still start, end the rest.
  void take_over(std::vector<Orphan> orphans);
  void restore_in_doubt(const std::vector<Orphan>& orphans);  // thread-safe
  void align_clock(std::chrono::steady_clock::time_point sent,
                   std::chrono::steady_clock::time_point received,
                   std::chrono::system_clock::time_point db_clock);
  void set_db_up(bool up);

  void begin_shutdown(int signal);
  void finish_shutdown();

  const Config config_;
  // The database's clock carried forward by the monotonic clock (see AnchoredClock): every
  // replica of a set agrees on when an instant has come, whatever its own clock says.
  AnchoredClock clock_;
  boost::asio::io_context loop_;
  boost::asio::thread_pool control_;
  boost::asio::thread_pool liveness_thread_;  // liveness rounds and takeovers, in turn
  boost::asio::thread_pool claimers_;
  boost::asio::thread_pool workers_;
  Metrics metrics_;
  HandlerRegistry handlers_;
  Database db_;
  ChangeListener listener_;
  Schedule schedule_;
  Ownership ownership_;
  TickRunner runner_;
  Dispatcher dispatcher_;
  std::unique_ptr<HttpServer> http_;

  boost::asio::signal_set signals_;
  boost::asio::steady_timer tick_timer_;
  boost::asio::steady_timer refresh_timer_;
  boost::asio::steady_timer liveness_timer_;
  boost::asio::steady_timer listener_retry_;
  boost::asio::steady_timer reconcile_retry_;
  boost::asio::steady_timer shutdown_timer_;
  std::optional<boost::asio::posix::stream_descriptor> listener_socket_;

  bool reconciling_ = false;
  bool reconcile_pending_full_ = false;
  std::vector<std::int64_t> reconcile_pending_ids_;
  bool reconcile_pending_ = false;
  bool first_reconcile_done_ = false;
  std::chrono::milliseconds reconcile_backoff_{250};
  std::chrono::milliseconds listener_backoff_{250};
  bool listener_waiting_ = false;  // listener_retry_ is armed

  bool db_up_ = false;
  bool liveness_running_ = false;
  Witness witness_;
  std::uint64_t liveness_rounds_ = 0;
  bool earlier_runs_pending_ = true;  // rows of an earlier process of this id may remain
  std::chrono::steady_clock::time_point last_db_contact_{};
  bool stopping_ = false;
  bool shutdown_finishing_ = false;
  std::stop_source stop_source_;  // tells running handlers that shutdown began
  int exit_status_ = 0;
};

}  // namespace tickd
