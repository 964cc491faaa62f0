#pragma once
// `tickd run`: wires the components on one Asio event loop.
//
// The loop thread owns the schedule, the dispatcher's queue, the HTTP endpoints and
// every timer; it never blocks on the database. Blocking database work runs on four
// pools: `control_` (reconcile reads, the change listener's connect), `liveness_thread_`
// (heartbeats and takeovers), `claimers_` (claims) and `workers_` (handlers), so slow
// handlers delay neither the timers, nor a reconcile, nor a heartbeat, nor the next
// instant's claims.
//
// The parts, each with one job: ReconcileLoop (region_index -> schedule), ChangeFeed
// (notifications -> reconcile requests), TickLoop (schedule -> due ticks, routed by
// ownership -> dispatcher), Dispatcher and TickRunner (claim, run, record), LivenessLoop
// (heartbeats, clock, ownership, takeovers), RequestFeed (operators' runs and cancels),
// the /v1 Api, NotificationSender and Pinger (notifications), DbHealth (tickd_db_up) and
// Shutdown. This
// class builds them, starts them, and hands SIGTERM/SIGINT to Shutdown.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <stop_token>

#include "asio_timers.hpp"
#include "change_feed.hpp"
#include "db_health.hpp"
#include "liveness_loop.hpp"
#include "reconcile_loop.hpp"
#include "request_feed.hpp"
#include "shutdown.hpp"
#include "tick_loop.hpp"
#include "tickd/config/config.hpp"
#include "tickd/control/api.hpp"
#include "tickd/db/control_store.hpp"
#include "tickd/db/database.hpp"
#include "tickd/db/notification_store.hpp"
#include "tickd/dispatch/dispatcher.hpp"
#include "tickd/dispatch/ownership.hpp"
#include "tickd/dispatch/tick_runner.hpp"
#include "tickd/dispatch/tick_store.hpp"
#include "tickd/handlers/handler.hpp"
#include "tickd/metrics/metrics.hpp"
#include "tickd/notify/pinger.hpp"
#include "tickd/notify/sender.hpp"
#include "tickd/schedule/schedule.hpp"
#include "tickd/util/clock.hpp"

namespace tickd {

class HttpServer;  // the wiring lives in service.cpp: only it includes the HTTP layer

class Service final {
 public:
  Service(Config config, const Clock& clock);
  ~Service();
  int run();  // until SIGTERM/SIGINT; returns the exit status

 private:
  void tick_done(const DueTick& tick, const TickReport& report);
  // The `missed` events of the regions among `missed` that want them, written off the loop.
  void record_missed(std::vector<Schedule::Due::Missed> missed);
  std::size_t stop_parts();
  void begin_shutdown(int signal);

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
  DatabaseTickStore tick_store_{db_};
  // Notifications: the outbox's deliverer (its own thread) and the pings of ping_url.
  NotificationStore notification_store_{db_};
  NotificationSender notifications_;
  Pinger pinger_;
  AsioTimers timers_{loop_};
  DbHealth db_health_;
  ChangeFeed feed_;  // declared early: its connection (the liveness lock) closes last
  Schedule schedule_;
  Ownership ownership_;
  TickRunner runner_;
  Dispatcher dispatcher_;
  std::unique_ptr<HttpServer> http_;
  ReconcileLoop reconcile_;
  TickLoop ticks_;
  LivenessLoop liveness_;
  RequestFeed requests_;
  // The /v1 API: its own connections (each statement under a short timeout) and threads,
  // so a slow read holds neither the event loop nor the service's own database work.
  ControlStore control_store_;
  Api api_;
  boost::asio::thread_pool api_threads_{2};

  Shutdown shutdown_;
  boost::asio::signal_set signals_;
  std::stop_source stop_source_;  // tells running handlers that shutdown began
  int exit_status_ = 0;
};

}  // namespace tickd
